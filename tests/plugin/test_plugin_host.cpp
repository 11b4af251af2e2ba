// The plugin host against fixture plugins (tests/plugin/fixtures/): good ones load and claim their own
// module type; each broken one is rejected with a message naming the file and the reason, and the
// good ones still load; a plugin that crashes while loading is caught by safe scanning.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/version.h>

#include "oft/errors.h"
#include "oft/log.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/plugin_host.h"
#include "oft/sdk/plugin_abi.h"

namespace oft {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kPlugins = OFT_TEST_PLUGIN_DIR;
const fs::path kGood = kPlugins / "good";
const fs::path kBroken = kPlugins / "broken";
const fs::path kCrash = kPlugins / "crash";
const fs::path kDup = kPlugins / "dup";

fs::path plugin_file(const fs::path& folder, const std::string& name) {
  return folder / ("liboft_backend_" + name + ".so");
}

// Only the given folders: no OFT_PLUGIN_PATH, no install folder, no safe scanning.
PluginHostOptions only(std::vector<fs::path> folders) {
  PluginHostOptions options;
  options.settings.paths = std::move(folders);
  options.use_environment = false;
  options.use_install_folder = false;
  return options;
}

const PluginFileReport& report_for(const PluginHostResult& result, const fs::path& file) {
  const auto it = std::find_if(result.files.begin(), result.files.end(), [&](const auto& r) { return r.file == file; });
  if (it == result.files.end()) throw std::runtime_error("no report for " + file.string());
  return *it;
}

std::vector<std::string> names_in_order(const PluginHostResult& result) {
  std::vector<std::string> names;
  for (const auto& d : result.dispatchers) names.push_back(d.name);
  return names;
}

// Captures what the host logs, to check the messages users see.
class PluginHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    logger()->sinks().push_back(sink_);
  }
  void TearDown() override {
    auto& sinks = logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string logs() const { return log_.str(); }

 private:
  std::ostringstream log_;
  spdlog::sink_ptr sink_;
};

// A FixtureLinear made by the loaded fixture_good library (its test hook), so that the plugin's own
// dispatcher can recognise its own type.
std::shared_ptr<torch::nn::Module> make_fixture_linear(const fs::path& plugin, int64_t in, int64_t out) {
  void* handle = dlopen(plugin.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!handle) throw std::runtime_error(plugin.string() + " is not loaded");
  auto make = reinterpret_cast<torch::nn::Module* (*)(int64_t, int64_t)>(dlsym(handle, "oft_fixture_make_linear"));
  dlclose(handle);
  if (!make) throw std::runtime_error(plugin.string() + " has no oft_fixture_make_linear");
  return std::shared_ptr<torch::nn::Module>(make(in, out));
}

TEST_F(PluginHostTest, GoodPluginsLoadAndAreAskedByPriorityThenName) {
  const PluginHostResult result = load_plugins(only({kGood}));
  ASSERT_EQ(result.files.size(), 2u) << "libnot_a_backend.so must not even be considered";
  const auto& good = report_for(result, plugin_file(kGood, "fixture_good"));
  EXPECT_EQ(good.status, PluginStatus::Loaded) << good.reason;
  EXPECT_EQ(good.version, "1.0.0");
  EXPECT_EQ(good.dispatchers, std::vector<std::string>{"fixture_good"});
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_second")).version, "2.1.0");
  EXPECT_EQ(names_in_order(result), (std::vector<std::string>{"fixture_good", "fixture_second", "default"}));
  EXPECT_EQ(result.dispatchers.back().priority, 1000);
  EXPECT_THAT(result.dispatchers.front().origin, HasSubstr("plugin 'fixture_good'"));
  EXPECT_THAT(logs(), HasSubstr("dispatchers 'fixture_good' and 'fixture_second' share priority 500"));
}

TEST_F(PluginHostTest, GoodPluginClaimsTheModuleTypeItDefines) {
  PluginHostResult result = load_plugins(only({kGood}));
  auto module = make_fixture_linear(plugin_file(kGood, "fixture_good"), 8, 4);
  DispatchResult claimed = result.registry->dispatch({"model.layers.0.q_proj", module}, {});
  EXPECT_EQ(claimed.dispatcher, "fixture_good");
  ASSERT_TRUE(claimed.claim.linear);
  EXPECT_EQ(claimed.claim.linear->type_name(), "FixtureLinear");
  const at::Tensor x = at::randn({2, 8});
  EXPECT_TRUE(at::allclose(claimed.claim.linear->forward(x), at::matmul(x, claimed.claim.linear->dense_weight().t())));
}

// Plugins are never unloaded (plugin_host.h): nothing the host holds keeps a library alive, so once
// the host's result, the claim and the plugin's module are gone only pinning keeps it mapped.
TEST_F(PluginHostTest, APluginStaysLoadedWhenNothingOfItIsHeldAnyMore) {
  const fs::path file = plugin_file(kGood, "fixture_good");
  {
    const PluginHostResult result = load_plugins(only({kGood}));
    const DispatchResult claimed = result.registry->dispatch({"q_proj", make_fixture_linear(file, 8, 4)}, {});
    ASSERT_EQ(claimed.dispatcher, "fixture_good");
  }
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr) << file << " was unloaded";
  if (handle) dlclose(handle);
}

TEST_F(PluginHostTest, DenseModulesStillGoToDefaultAndUnclaimedOnesNameEverythingAsked) {
  const PluginHostResult result = load_plugins(only({kGood}));
  EXPECT_EQ(result.registry->dispatch({"fc", torch::nn::Linear(4, 4).ptr()}, {}).dispatcher, "default");
  try {
    result.registry->dispatch({"act", torch::nn::ReLU().ptr()}, {});
    FAIL() << "a ReLU must not be claimed";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'act'"));
    EXPECT_THAT(e.what(), HasSubstr("ReLU"));
    EXPECT_THAT(e.what(), HasSubstr("asked: fixture_good, fixture_second, default"));
  }
}

struct BrokenCase {
  std::string name;
  std::vector<std::string> reason_parts;
};

void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }

class BrokenPluginTest : public PluginHostTest, public ::testing::WithParamInterface<BrokenCase> {};

TEST_P(BrokenPluginTest, IsRejectedWithItsReasonAndTheGoodOnesStillLoad) {
  const BrokenCase& c = GetParam();
  const PluginHostResult result = load_plugins(only({kGood, kBroken}));
  const fs::path file = plugin_file(kBroken, c.name);
  const PluginFileReport& report = report_for(result, file);
  EXPECT_EQ(report.status, PluginStatus::Rejected);
  for (const auto& part : c.reason_parts) EXPECT_THAT(report.reason, HasSubstr(part));
  EXPECT_THAT(logs(), HasSubstr("rejected plugin " + file.string() + ": " + report.reason));
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_good")).status, PluginStatus::Loaded);
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_second")).status, PluginStatus::Loaded);
  EXPECT_EQ(names_in_order(result),
            (std::vector<std::string>{"claim_throws", "fixture_good", "fixture_second", "default"}));
}

INSTANTIATE_TEST_SUITE_P(
    EachWayOfBeingWrong, BrokenPluginTest,
    ::testing::Values(
        BrokenCase{"not_a_library", {"not a shared library (no ELF header)"}},
        BrokenCase{"undefined_symbol", {"cannot be loaded: ", "undefined symbol: oft_fixture_function_nobody_defines"}},
        BrokenCase{"no_entry", {std::string("no entry symbol ") + OFT_PLUGIN_ENTRY_SYMBOL}},
        BrokenCase{"null_entry", {std::string(OFT_PLUGIN_ENTRY_SYMBOL) + " returned a null descriptor"}},
        BrokenCase{"short_descriptor",
                   {"descriptor is 8 bytes, expected at least " + std::to_string(sizeof(OftPluginDescriptor))}},
        BrokenCase{"abi_major",
                   {"exports oft_plugin_descriptor_v" + std::to_string(OFT_PLUGIN_ABI_MAJOR + 1),
                    "built for plugin ABI major " + std::to_string(OFT_PLUGIN_ABI_MAJOR + 1),
                    "host speaks ABI major " + std::to_string(OFT_PLUGIN_ABI_MAJOR)}},
        BrokenCase{"abi_minor",
                   {"built for plugin ABI " + std::to_string(OFT_PLUGIN_ABI_MAJOR) + "." +
                    std::to_string(OFT_PLUGIN_ABI_MINOR + 1) + ", newer than this host's " +
                    std::to_string(OFT_PLUGIN_ABI_MAJOR) + "." + std::to_string(OFT_PLUGIN_ABI_MINOR)}},
        BrokenCase{"torch_version",
                   {"built against LibTorch 2.14.0", std::string("this host uses LibTorch ") + TORCH_VERSION}},
        BrokenCase{"cxx_abi", {"C++11 ABI " + std::to_string(1 - _GLIBCXX_USE_CXX11_ABI), "both must be equal"}},
        BrokenCase{"name_mismatch", {"declares the name 'some_other_name' but the file name says 'name_mismatch'"}},
        BrokenCase{"register_throws", {"registration failed: fixture registration cannot find its kernels"}}),
    [](const auto& test) { return test.param.name; });

TEST_F(PluginHostTest, DispatcherThatThrowsWhileClaimingIsReportedAndTheNextOneClaims) {
  const PluginHostResult result = load_plugins(only({kGood, kBroken}));
  EXPECT_EQ(report_for(result, plugin_file(kBroken, "claim_throws")).status, PluginStatus::Loaded);
  auto module = make_fixture_linear(plugin_file(kGood, "fixture_good"), 8, 4);
  EXPECT_EQ(result.registry->dispatch({"layers.0.q", module}, {}).dispatcher, "fixture_good");
  EXPECT_THAT(logs(), HasSubstr("dispatcher 'claim_throws' from plugin 'claim_throws' (" +
                                plugin_file(kBroken, "claim_throws").string() +
                                ") failed while claiming 'layers.0.q': fixture dispatcher cannot inspect layers.0.q"));
}

TEST_F(PluginHostTest, TwoPluginsWithTheSameNameTheFirstFoundWins) {
  const PluginHostResult result = load_plugins(only({kGood, kDup}));
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_good")).version, "1.0.0");
  const PluginFileReport& dup = report_for(result, plugin_file(kDup, "fixture_good"));
  EXPECT_EQ(dup.status, PluginStatus::Rejected);
  EXPECT_THAT(dup.reason, HasSubstr("a plugin named 'fixture_good' is already loaded from " +
                                    plugin_file(kGood, "fixture_good").string()));
  EXPECT_THAT(logs(), HasSubstr("rejected plugin " + plugin_file(kDup, "fixture_good").string()));
}

TEST_F(PluginHostTest, OftPluginPathIsSearchedBeforeTheConfiguredPaths) {
  PluginHostOptions options = only({kGood});
  options.use_environment = true;
  ::setenv("OFT_PLUGIN_PATH", (kDup.string() + ":/nonexistent/oft-plugins").c_str(), 1);
  const PluginHostResult result = load_plugins(options);
  ::unsetenv("OFT_PLUGIN_PATH");
  const PluginFileReport& from_env = report_for(result, plugin_file(kDup, "fixture_good"));
  EXPECT_EQ(from_env.status, PluginStatus::Loaded);
  EXPECT_EQ(from_env.version, "9.9.9");
  EXPECT_EQ(from_env.origin, "OFT_PLUGIN_PATH");
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_good")).status, PluginStatus::Rejected);
  ASSERT_GE(result.folders.size(), 3u);
  EXPECT_EQ(result.folders[1].folder, "/nonexistent/oft-plugins");
  EXPECT_EQ(result.folders[1].problem, "") << "an absent folder is not a problem";
}

TEST_F(PluginHostTest, InstallFolderIsNextToLiboftCore) {
  PluginHostOptions options = only({});
  options.use_install_folder = true;
  const PluginHostResult result = load_plugins(options);
  ASSERT_EQ(result.folders.size(), 1u);
  EXPECT_EQ(result.folders[0].origin, "install folder");
  EXPECT_EQ(result.folders[0].folder.filename(), "plugins");
  EXPECT_TRUE(fs::exists(result.folders[0].folder.parent_path().parent_path() / "liboft_core.so"));
}

TEST_F(PluginHostTest, DisableSkipsAPluginByName) {
  PluginHostOptions options = only({kGood});
  options.settings.disable = {"fixture_second"};
  const PluginHostResult result = load_plugins(options);
  const PluginFileReport& second = report_for(result, plugin_file(kGood, "fixture_second"));
  EXPECT_EQ(second.status, PluginStatus::Disabled);
  EXPECT_EQ(second.reason, "disabled by plugins.disable");
  EXPECT_EQ(names_in_order(result), (std::vector<std::string>{"fixture_good", "default"}));
}

TEST_F(PluginHostTest, RequiredPluginThatIsRejectedMissingOrDisabledIsFatal) {
  PluginHostOptions options = only({kGood, kBroken});
  options.settings.require = {"fixture_good"};
  EXPECT_NO_THROW(load_plugins(options));

  options.settings.require = {"torch_version", "absent"};
  try {
    load_plugins(options);
    FAIL() << "plugins.require must be enforced";
  } catch (const PluginError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("required plugin 'torch_version' is not loaded: " +
                          plugin_file(kBroken, "torch_version").string() + ": built against LibTorch 2.14.0"));
    EXPECT_THAT(
        e.what(),
        HasSubstr("required plugin 'absent' is not loaded: no liboft_backend_absent.so in the plugin search path (" +
                  kGood.string() + ", " + kBroken.string() + ")"));
  }

  options.settings.require = {"fixture_second"};
  options.settings.disable = {"fixture_second"};
  EXPECT_THROW(load_plugins(options), PluginError);
}

// An unreadable folder is reported and the search goes on. Root reads any folder, so as root the
// check runs in a child that drops to the "nobody" user first.
TEST_F(PluginHostTest, UnreadableFolderIsReportedAndTheOthersStillLoad) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // A threadsafe death test runs this whole body again in a new process, which must use this process's folder
  // (it inherits the environment), or the folder it made would be left behind.
  const char* inherited = std::getenv("OFT_TEST_LOCKED_FOLDER");
  const fs::path locked =
      inherited ? fs::path(inherited) : fs::temp_directory_path() / ("oft-locked-" + std::to_string(::getpid()));
  ::setenv("OFT_TEST_LOCKED_FOLDER", locked.c_str(), 1);
  fs::create_directories(locked);
  ::chmod(locked.c_str(), 0);
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && ::setuid(65534) != 0) std::_Exit(3);
        const PluginHostResult result = load_plugins(only({locked, kGood}));
        const bool reported = result.folders.size() == 2 && result.folders[0].folder == locked &&
                              result.folders[0].problem.find("cannot read folder") != std::string::npos;
        const bool good_loaded = report_for(result, plugin_file(kGood, "fixture_good")).status == PluginStatus::Loaded;
        std::_Exit(reported && good_loaded ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  ::chmod(locked.c_str(), 0700);
  fs::remove_all(locked);
  ::unsetenv("OFT_TEST_LOCKED_FOLDER");
}

class SafeScanTest : public PluginHostTest {
 protected:
  void SetUp() override {
    PluginHostTest::SetUp();
    cache_ = fs::temp_directory_path() / ("oft-scan-cache-" + std::to_string(::getpid()) + ".json");
    remove_cache();
  }
  void TearDown() override {
    remove_cache();
    PluginHostTest::TearDown();
  }
  PluginHostOptions options(std::vector<fs::path> folders) const {
    PluginHostOptions o = only(std::move(folders));
    o.safe_scan = true;
    o.scanner = OFT_TEST_SCANNER;
    o.scan_cache = cache_;
    return o;
  }
  void remove_cache() const {
    fs::remove(cache_);
    fs::remove(cache_.string() + ".lock");  // the cache's flock file, kept next to it
  }
  fs::path cache_;
};

TEST_F(SafeScanTest, PluginsThatCrashWhileLoadingAreRejectedAndTheHostGoesOn) {
  const PluginHostResult result = load_plugins(options({kGood, kCrash}));
  const PluginFileReport& segv = report_for(result, plugin_file(kCrash, "crash_segv"));
  EXPECT_EQ(segv.status, PluginStatus::Rejected);
  EXPECT_THAT(segv.reason, HasSubstr("crashed while loading in the safe-scan process (signal 11"));
  const PluginFileReport& abort = report_for(result, plugin_file(kCrash, "crash_abort"));
  EXPECT_EQ(abort.status, PluginStatus::Rejected);
  EXPECT_THAT(abort.reason, HasSubstr("crashed while loading in the safe-scan process (signal 6"));
  EXPECT_THAT(logs(), HasSubstr("rejected plugin " + plugin_file(kCrash, "crash_segv").string() + ": crashed"));
  EXPECT_EQ(names_in_order(result), (std::vector<std::string>{"fixture_good", "fixture_second", "default"}));
}

TEST_F(SafeScanTest, BrokenPluginsGetTheSameReasonsThroughTheScanner) {
  const PluginHostResult result = load_plugins(options({kBroken}));
  EXPECT_THAT(report_for(result, plugin_file(kBroken, "torch_version")).reason,
              HasSubstr("built against LibTorch 2.14.0"));
  EXPECT_THAT(report_for(result, plugin_file(kBroken, "register_throws")).reason,
              HasSubstr("registration failed: fixture registration cannot find its kernels"));
  EXPECT_EQ(report_for(result, plugin_file(kBroken, "claim_throws")).status, PluginStatus::Loaded);
}

TEST_F(SafeScanTest, VerdictsAreRememberedByPathSizeAndTime) {
  load_plugins(options({kGood, kCrash}));
  nlohmann::json cache;
  std::ifstream(cache_) >> cache;
  const std::string good = plugin_file(kGood, "fixture_good").string();
  ASSERT_TRUE(cache["entries"].contains(good));
  EXPECT_EQ(cache["entries"][good]["verdict"]["status"], "loaded");
  EXPECT_EQ(cache["entries"][plugin_file(kCrash, "crash_segv").string()]["verdict"]["status"], "rejected");

  // A remembered verdict is used as is: forge one and see it reported without a new scan.
  cache["entries"][good]["verdict"]["status"] = "rejected";
  cache["entries"][good]["verdict"]["reason"] = "forged verdict";
  std::ofstream(cache_) << cache.dump();
  EXPECT_EQ(report_for(load_plugins(options({kGood})), plugin_file(kGood, "fixture_good")).reason, "forged verdict");

  // A changed file (another modification time) is scanned again.
  const auto stamp = fs::last_write_time(good);
  fs::last_write_time(good, stamp + std::chrono::seconds(1));
  const PluginFileReport rescanned = report_for(load_plugins(options({kGood})), plugin_file(kGood, "fixture_good"));
  fs::last_write_time(good, stamp);
  EXPECT_EQ(rescanned.status, PluginStatus::Loaded) << rescanned.reason;
}

TEST_F(SafeScanTest, MissingScannerRejectsNewPluginsWithAnExplanation) {
  PluginHostOptions o = options({kGood});
  o.scanner = "/nonexistent/oft-plugin-scan";
  const PluginHostResult result = load_plugins(o);
  const PluginFileReport& report = report_for(result, plugin_file(kGood, "fixture_good"));
  EXPECT_EQ(report.status, PluginStatus::Rejected);
  EXPECT_THAT(report.reason, HasSubstr("safe scanning is on but the scanner did not run"));
  EXPECT_THAT(report.reason, HasSubstr("/nonexistent/oft-plugin-scan"));
}

TEST_F(PluginHostTest, RegistryCanBeUsedFromSeveralThreads) {
  const PluginHostResult result = load_plugins(only({kGood}));
  auto module = make_fixture_linear(plugin_file(kGood, "fixture_good"), 4, 4);
  std::vector<std::thread> threads;
  std::atomic<int> claimed{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (result.registry->dispatch({"m", module}, {}).dispatcher == "fixture_good") ++claimed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.load(), 800);
}

// A dispatcher that only names itself: which modules it claims is not what the registry's checks are about.
class NamedDispatcher final : public sdk::Dispatcher {
 public:
  explicit NamedDispatcher(std::string name) : name_(std::move(name)) {}
  std::string name() const override {
    if (name_ == "throws") throw std::runtime_error("no name today");
    return name_;
  }
  int priority() const override { return 700; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef&, const sdk::DispatchContext&) override { return std::nullopt; }

 private:
  std::string name_;
};

std::string check_error(const DispatcherRegistry& registry, const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<sdk::Dispatcher>> batch;
  for (const auto& name : names) batch.push_back(std::make_shared<NamedDispatcher>(name));
  try {
    registry.check(batch, "plugin 'p'");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(DispatcherRegistryTest, ABatchIsCheckedAsAWholeAndAddedWholeOrNotAtAll) {
  auto registry = DispatcherRegistry::with_default();
  EXPECT_THAT(check_error(*registry, {"a", "a"}), HasSubstr("dispatcher 'a' from plugin 'p' is given twice"));
  EXPECT_THAT(check_error(*registry, {"a", "default"}),
              HasSubstr("a dispatcher named 'default' is already registered by the host's built-in dispatchers"));
  EXPECT_THAT(check_error(*registry, {""}), HasSubstr("a dispatcher from plugin 'p' has an empty name"));
  EXPECT_THAT(check_error(*registry, {"throws"}),
              HasSubstr("threw when asked its name() or priority(): no name today"));
  EXPECT_EQ(check_error(*registry, {"a", "b"}), "");
  EXPECT_EQ(registry->order(), std::vector<std::string>{"default"}) << "check() added a dispatcher";

  const std::vector<std::shared_ptr<sdk::Dispatcher>> refused = {std::make_shared<NamedDispatcher>("a"),
                                                                 std::make_shared<NamedDispatcher>("default")};
  EXPECT_THROW(registry->add(refused, "plugin 'p'"), UsageError);
  EXPECT_EQ(registry->order(), std::vector<std::string>{"default"}) << "part of a refused batch was added";
  EXPECT_EQ(
      registry->add({std::make_shared<NamedDispatcher>("b"), std::make_shared<NamedDispatcher>("a")}, "plugin 'p'"),
      (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(registry->order(), (std::vector<std::string>{"a", "b", "default"}));
  EXPECT_THAT(check_error(*registry, {"b"}), HasSubstr("a dispatcher named 'b' is already registered by plugin 'p'"));
}

TEST(PluginSettingsTest, ReadsThePluginsSectionOfTheHostConfig) {
  const fs::path dir = fs::temp_directory_path() / ("oft-host-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "host.json") << R"({"logging": {"level": "info"},
      "plugins": {"paths": ["rel", "/abs"], "require": ["gptq"], "disable": ["bnb"], "safe_scan": false,
                  "config": {"gptq": {"kernel": "exllama"}}}})";
  const PluginSettings s = read_plugin_settings(dir / "host.json");
  EXPECT_EQ(s.paths, (std::vector<fs::path>{fs::absolute(dir) / "rel", "/abs"}));
  EXPECT_EQ(s.require, std::vector<std::string>{"gptq"});
  EXPECT_EQ(s.disable, std::vector<std::string>{"bnb"});
  EXPECT_EQ(s.safe_scan, false);
  EXPECT_EQ(nlohmann::json::parse(s.config.at("gptq")), nlohmann::json({{"kernel", "exllama"}}));

  std::ofstream(dir / "typo.json") << R"({"plugins": {"path": ["x"]}})";
  EXPECT_THROW(
      {
        try {
          read_plugin_settings(dir / "typo.json");
        } catch (const ConfigError& e) {
          EXPECT_THAT(e.what(), HasSubstr("unknown key plugins.path"));
          throw;
        }
      },
      ConfigError);
  std::ofstream(dir / "types.json") << R"({"plugins": {"require": "gptq"}})";
  EXPECT_THROW(read_plugin_settings(dir / "types.json"), ConfigError);
  std::ofstream(dir / "section.json") << R"({"plugins": {"config": {"gptq": 4}}})";
  EXPECT_THROW(read_plugin_settings(dir / "section.json"), ConfigError);
  fs::remove_all(dir);
}

TEST_F(PluginHostTest, EachPluginGetsItsOwnSectionOfPluginsConfig) {
  PluginHostOptions options = only({kGood});
  options.settings.config["fixture_good"] = R"({"keep": true})";
  // fixture_good would refuse this one: it reaches only fixture_second, which reads no settings.
  options.settings.config["fixture_second"] = R"({"refuse": true})";
  const PluginHostResult result = load_plugins(options);
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_good")).status, PluginStatus::Loaded);
  EXPECT_EQ(report_for(result, plugin_file(kGood, "fixture_second")).status, PluginStatus::Loaded);
}

// A section is settings the user wants in force: a plugin that refuses its section (fixture_good refuses
// {"refuse": ...}) fails the whole load with the plugin's reason, where any other rejected plugin is only reported.
TEST_F(PluginHostTest, APluginRefusingItsSectionOfPluginsConfigIsAnError) {
  PluginHostOptions options = only({kGood});
  options.settings.config["fixture_good"] = R"({"refuse": true})";
  try {
    load_plugins(options);
    FAIL() << "a plugin that refused its plugins.config section was only reported";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("plugins.config.fixture_good in the host config reaches no plugin: 'fixture_good' "
                                    "was rejected (" +
                                    plugin_file(kGood, "fixture_good").string() +
                                    ": registration failed: refused by its settings {\"refuse\": true})"));
  }
  options.settings.disable = {"fixture_good"};
  EXPECT_NO_THROW(load_plugins(options));
}

// A section for a name no plugin file has (a typo) would reach nothing: an error naming it and the names found.
// A disabled plugin's section is fine: the plugin is there, only turned off.
TEST_F(PluginHostTest, PluginsConfigSectionForAPluginNotFoundIsAnError) {
  PluginHostOptions options = only({kGood});
  options.settings.config["fixture_godo"] = "{}";
  try {
    load_plugins(options);
    FAIL() << "a plugins.config section for a plugin that was not found was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown key plugins.config.fixture_godo in the host config: no plugin named "
                                    "'fixture_godo' was found (expected one of the plugins found: fixture_good, "
                                    "fixture_second)"));
  }
  options.settings.config = {{"fixture_second", "{}"}};
  options.settings.disable = {"fixture_second"};
  EXPECT_NO_THROW(load_plugins(options));
}

}  // namespace
}  // namespace oft
