// The plugin scan cache under concurrent `oft` processes: 8 `oft plugins --json` at once, half searching one
// plugin folder and half another, on one cache file, in rounds: a fresh cache (its folder absent), after a
// plugin file changed, and over a cache left half-written. Every process exits 0 listing every plugin of its
// folders as loaded; the cache ends valid JSON holding the verdicts of both halves (no process's write drops
// another's), so a last run that searches both folders scans nothing. The plugins are copies of the test-only
// fixtures; the shipped backends are disabled through the host config (named from their folder), so that each
// run scans a few small files only.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.h"
#include "raw_safetensors.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kProcesses = 8;

// liboft_backend_<name>.so -> <name>.
std::string plugin_name(const fs::path& file) {
  const std::string base = file.filename().string(), prefix = "liboft_backend_", suffix = ".so";
  if (base.size() <= prefix.size() + suffix.size() || base.rfind(prefix, 0) != 0 ||
      base.compare(base.size() - suffix.size(), suffix.size(), suffix) != 0)
    return "";
  return base.substr(prefix.size(), base.size() - prefix.size() - suffix.size());
}

class ConcurrentPluginCache : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/oft-plugin-cache-XXXXXX";
    root_ = ::mkdtemp(name);
    const fs::path fixtures = OFT_FIXTURE_PLUGIN_DIR;
    folders_ = {{"a", {fixtures / "good/liboft_backend_fixture_good.so"}},
                {"b", {fixtures / "int4/liboft_backend_fixture_int4.so"}}};
    json disable = json::array();
    for (const auto& entry : fs::directory_iterator(OFT_SHIPPED_PLUGIN_DIR))
      if (!plugin_name(entry.path()).empty()) disable.push_back(plugin_name(entry.path()));
    for (const auto& [folder, files] : folders_) {
      fs::create_directories(root_ / folder);
      for (const auto& file : files) fs::copy_file(file, root_ / folder / file.filename());
    }
    for (const auto& config : {"a", "b", "ab"}) {
      json paths = json::array();
      for (const char* c = config; *c; ++c) paths.push_back((root_ / std::string(1, *c)).string());
      write_bytes(root_ / (std::string(config) + ".json"),
                  json{{"plugins", {{"paths", paths}, {"disable", disable}}}}.dump());
    }
    cache_ = root_ / "cache" / "oft" / "plugin-scan.json";
    ::setenv("OFT_PLUGIN_CACHE", cache_.c_str(), 1);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  ChildResult list_plugins(const std::string& config) const {
    return run_child({OFT_BINARY, "--log-level", "error", "--host-config", (root_ / (config + ".json")).string(),
                      "plugins", "--json"});
  }

  // The copies in the folders of `config`, each of which the report must show loaded.
  std::set<std::string> expected_files(const std::string& config) const {
    std::set<std::string> files;
    for (const char c : config)
      for (const auto& file : folders_.at(std::string(1, c)))
        files.insert((root_ / std::string(1, c) / file.filename()).string());
    return files;
  }

  // kProcesses runs at once, alternately searching folder a and folder b; each must list its plugins.
  void concurrent_round(const std::string& when) {
    std::vector<ChildResult> results(kProcesses);
    std::vector<std::thread> threads;
    for (int i = 0; i < kProcesses; ++i) threads.emplace_back([&, i] { results[i] = list_plugins(i % 2 ? "b" : "a"); });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kProcesses; ++i) {
      const std::string config = i % 2 ? "b" : "a";
      const std::string what = when + ", process " + std::to_string(i);
      ASSERT_EQ(results[i].exit_code, 0) << what << ": " << results[i].output;
      ASSERT_TRUE(json::accept(results[i].output)) << what << " printed no JSON: " << results[i].output;
      std::set<std::string> loaded;
      const json report = json::parse(results[i].output);
      for (const auto& p : report.at("plugins")) {
        if (p.at("status") == "loaded") loaded.insert(p.at("file").get<std::string>());
        if (p.at("status") == "rejected") ADD_FAILURE() << what << ": rejected " << p.dump();
      }
      EXPECT_EQ(loaded, expected_files(config)) << what;
    }
  }

  // The cache file's entries (after checking that it is whole JSON and that no temporary is left beside it).
  json cache_entries(const std::string& when) const {
    for (const auto& entry : fs::directory_iterator(cache_.parent_path())) {
      const std::string name = entry.path().filename().string();
      EXPECT_TRUE(name == cache_.filename().string() || name == cache_.filename().string() + ".lock")
          << when << ": left beside the cache: " << name;
    }
    const std::string text = read_bytes(cache_);
    if (!json::accept(text)) {
      ADD_FAILURE() << when << ": the cache is not JSON: " << text;
      return json::object();
    }
    return json::parse(text).at("entries");
  }

  // Every plugin of both folders has its verdict in the cache.
  void expect_all_remembered(const std::string& when) const {
    const json entries = cache_entries(when);
    for (const auto& file : expected_files("ab"))
      EXPECT_TRUE(entries.contains(file)) << when << ": the cache lost the verdict for " << file << "\n"
                                          << entries.dump(1);
  }

  fs::path root_, cache_;
  std::map<std::string, std::vector<fs::path>> folders_;
};

TEST_F(ConcurrentPluginCache, ConcurrentProcessesKeepEveryVerdict) {
  concurrent_round("fresh cache");
  expect_all_remembered("fresh cache");

  // A plugin file changes (as a rebuild would): its entry is stale, every process of half a rescans it.
  const fs::path changed = root_ / "a" / "liboft_backend_fixture_good.so";
  const auto before = cache_entries("before the change").at(changed.string()).at("stamp");
  fs::last_write_time(changed, fs::last_write_time(changed) + std::chrono::seconds(5));
  concurrent_round("after a plugin changed");
  expect_all_remembered("after a plugin changed");
  EXPECT_NE(cache_entries("after a plugin changed").at(changed.string()).at("stamp"), before)
      << "the changed plugin's entry kept its old stamp";

  // A cache cut short (as a writer without the atomic rename would leave it): ignored, rescanned, rewritten.
  const std::string whole = read_bytes(cache_);
  write_bytes(cache_, whole.substr(0, whole.size() / 2));
  concurrent_round("after a half-written cache");
  expect_all_remembered("after a half-written cache");

  // Nothing is left to scan: a run over both folders does not write the cache again.
  const std::string settled = read_bytes(cache_);
  const auto last = list_plugins("ab");
  ASSERT_EQ(last.exit_code, 0) << last.output;
  EXPECT_EQ(read_bytes(cache_), settled) << "a run with every verdict cached scanned again";
}

}  // namespace
}  // namespace oft::test
