// OFTConfig against PEFT 0.21.2: golden adapter_config.json files written by PEFT's
// save_pretrained, PEFT's error and warning texts (tests/golden/gen_configs.py), plus the strict
// parsing and extra validation this library adds.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "oft/adapter/config.h"
#include "oft/errors.h"
#include "oft/log.h"

#ifndef OFT_GOLDEN_DIR
#error "OFT_GOLDEN_DIR must point at tests/golden/data"
#endif

namespace {

using nlohmann::json;
using oft::Bias;
using oft::ConfigError;
using oft::FormatError;
using oft::ModuleSelector;
using oft::OFTConfig;
namespace fs = std::filesystem;

const fs::path kConfigDir = fs::path(OFT_GOLDEN_DIR) / "configs";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json read_json(const fs::path& path) { return json::parse(read_text(path)); }

const json& errors_golden() {
  static const json errors = read_json(kConfigDir / "errors.json");
  return errors;
}

const json& golden_case(const std::string& name) {
  for (const auto& c : errors_golden()["cases"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("no golden case " + name);
}

std::string peft_version_of_goldens() { return read_json(kConfigDir / "versions.json")["peft"].get<std::string>(); }

// Collects what oft::logger() prints while alive.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {
    sink_->set_pattern("%l|%v");
    oft::logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = oft::logger()->sinks();
    sinks.erase(std::find(sinks.begin(), sinks.end(), sink_));
  }
  std::string text() const { return stream_.str(); }
  int warnings() const {
    int count = 0;
    for (size_t at = text().find("warning|"); at != std::string::npos; at = text().find("warning|", at + 1)) {
      ++count;
    }
    return count;
  }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// The message of the ConfigError that `fn` throws ("" and a test failure if none).
std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

std::string rstrip(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

json auto_mapping_of(const OFTConfig& c) {
  return c.auto_mapping_json ? json::parse(*c.auto_mapping_json) : json(nullptr);
}

void expect_same_selector(const ModuleSelector& got, const ModuleSelector& want, const std::string& key) {
  EXPECT_EQ(got.kind, want.kind) << key;
  EXPECT_EQ(got.names, want.names) << key;
  EXPECT_EQ(got.regex, want.regex) << key;
}

// Field by field, so a failure says which one.
void expect_same(const OFTConfig& got, const OFTConfig& want) {
  EXPECT_EQ(got.task_type, want.task_type);
  EXPECT_EQ(auto_mapping_of(got), auto_mapping_of(want));
  EXPECT_EQ(got.peft_version, want.peft_version);
  EXPECT_EQ(got.base_model_name_or_path, want.base_model_name_or_path);
  EXPECT_EQ(got.revision, want.revision);
  EXPECT_EQ(got.inference_mode, want.inference_mode);
  EXPECT_EQ(got.r, want.r);
  EXPECT_EQ(got.oft_block_size, want.oft_block_size);
  EXPECT_EQ(got.module_dropout, want.module_dropout);
  expect_same_selector(got.target_modules, want.target_modules, "target_modules");
  EXPECT_EQ(got.fan_in_fan_out, want.fan_in_fan_out);
  EXPECT_EQ(got.bias, want.bias);
  expect_same_selector(got.exclude_modules, want.exclude_modules, "exclude_modules");
  EXPECT_EQ(got.init_weights, want.init_weights);
  EXPECT_EQ(got.layers_to_transform, want.layers_to_transform);
  EXPECT_EQ(got.layers_to_transform_is_scalar, want.layers_to_transform_is_scalar);
  EXPECT_EQ(got.layers_pattern, want.layers_pattern);
  EXPECT_EQ(got.layers_pattern_is_scalar, want.layers_pattern_is_scalar);
  EXPECT_EQ(got.modules_to_save, want.modules_to_save);
  EXPECT_EQ(got.coft, want.coft);
  EXPECT_EQ(got.eps, want.eps);
  EXPECT_EQ(got.block_share, want.block_share);
  EXPECT_EQ(got.use_cayley_neumann, want.use_cayley_neumann);
  EXPECT_EQ(got.num_cayley_neumann_terms, want.num_cayley_neumann_terms);
}

ModuleSelector names(std::vector<std::string> n) { return ModuleSelector::from_names(std::move(n)); }

// What each golden file must parse to: gen_configs.py's OFTConfig kwargs on top of what
// save_pretrained adds (inference_mode true, peft_version, auto_mapping for a plain module).
std::map<std::string, std::function<void(OFTConfig&)>> golden_expectations() {
  return {
      {"r_given",
       [](OFTConfig& c) {
         c.r = 2;
         c.oft_block_size = 0;
         c.target_modules = names({"q", "v"});
       }},
      {"block_given",
       [](OFTConfig& c) {
         c.target_modules = names({"q", "v", "mlp"});
       }},
      {"regex_target", [](OFTConfig& c) { c.target_modules = ModuleSelector::from_regex(R"(.*layers\.\d+\.(q|v))"); }},
      {"all_linear",
       [](OFTConfig& c) {
         // PEFT replaces "all-linear" by the matched names before saving.
         std::vector<std::string> all{"head"};
         for (std::string list : {"layers", "h"}) {
           for (std::string i : {"0", "1"}) {
             for (std::string leaf : {"q", "v", "mlp"}) all.push_back(list + "." + i + "." + leaf);
           }
         }
         c.target_modules = names(all);
       }},
      {"exclude_list",
       [](OFTConfig& c) {
         c.oft_block_size = 2;
         c.target_modules = names({"q", "mlp"});
         c.exclude_modules = names({"layers.0.mlp", "h.1.q"});
       }},
      {"exclude_regex",
       [](OFTConfig& c) {
         c.oft_block_size = 2;
         c.target_modules = names({"v"});
         c.exclude_modules = ModuleSelector::from_regex(R"(h\..*)");
       }},
      {"layers_int",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.layers_to_transform = {{0}};
         c.layers_to_transform_is_scalar = true;
         c.layers_pattern = {{"layers"}};
         c.layers_pattern_is_scalar = true;
       }},
      {"layers_list",
       [](OFTConfig& c) {
         c.target_modules = names({"q", "v"});
         c.layers_to_transform = {{0, 1}};
         c.layers_pattern = {{"layers", "h"}};  // a list, not a set: PEFT keeps the order
       }},
      {"modules_to_save",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.modules_to_save = {{"head"}};
       }},
      {"coft_eps",
       [](OFTConfig& c) {
         c.target_modules = names({"v"});
         c.coft = true;
         c.eps = 1e-3;
       }},
      {"block_share",
       [](OFTConfig& c) {
         c.target_modules = names({"mlp"});
         c.block_share = true;
       }},
      {"neumann_off",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.use_cayley_neumann = false;
       }},
      {"neumann_terms",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.num_cayley_neumann_terms = 7;
         c.init_weights = false;
         c.module_dropout = 0.1;
       }},
      {"bias_all",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.bias = Bias::All;
       }},
      {"bias_oft_only",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.bias = Bias::OftOnly;
       }},
      {"task_type",
       [](OFTConfig& c) {
         c.target_modules = names({"q"});
         c.task_type = "FEATURE_EXTRACTION";
         c.auto_mapping_json.reset();  // save_pretrained only adds it when task_type is null
       }},
      {"name_revision",
       [](OFTConfig& c) {
         c.r = 4;
         c.oft_block_size = 0;
         c.target_modules = names({"v"});
         c.base_model_name_or_path = "tiny-org/tiny-model";
         c.revision = "v1";
       }},
  };
}

OFTConfig golden_base() {
  OFTConfig c;
  c.oft_block_size = 4;
  c.inference_mode = true;
  c.peft_version = peft_version_of_goldens();
  c.auto_mapping_json = R"({"base_model_class":"Tiny","parent_library":"__main__"})";
  return c;
}

std::vector<fs::path> golden_config_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kConfigDir)) {
    const auto name = entry.path().filename();
    if (name != "errors.json" && name != "versions.json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// PEFT writes sets in hash order; sort them to compare with our deterministic order.
json sorted_sets(json j) {
  for (const char* key : {"target_modules", "exclude_modules"}) {
    if (j[key].is_array()) std::sort(j[key].begin(), j[key].end());
  }
  return j;
}

// A fresh empty directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("oft_test_config_" + std::to_string(::getpid()) + "_" + std::to_string(++count));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  static inline int count = 0;
};

OFTConfig valid_config() {
  OFTConfig c;
  c.oft_block_size = 4;
  c.target_modules = names({"q", "v"});
  return c;
}

// from_json on valid_config() with one key replaced.
OFTConfig with_key(const std::string& key, const json& value) {
  json j = valid_config().to_json();
  j[key] = value;
  return OFTConfig::from_json(j);
}

// ---- golden files
// --------------------------------------------------------------------------------

TEST(GoldenConfig, EveryFileHasAnExpectation) {
  const auto expectations = golden_expectations();
  std::set<std::string> on_disk;
  for (const auto& file : golden_config_files()) on_disk.insert(file.stem());
  std::set<std::string> expected;
  for (const auto& [name, tweak] : expectations) expected.insert(name);
  EXPECT_EQ(on_disk, expected);
}

TEST(GoldenConfig, EveryFieldMatchesWhatPeftSaved) {
  for (const auto& [name, tweak] : golden_expectations()) {
    SCOPED_TRACE(name);
    OFTConfig want = golden_base();
    tweak(want);
    expect_same(OFTConfig::load(kConfigDir / (name + ".json")), want);
  }
}

TEST(GoldenConfig, ToJsonEqualsPeftJson) {
  for (const auto& file : golden_config_files()) {
    SCOPED_TRACE(file.filename().string());
    const json peft = read_json(file);
    const json ours = OFTConfig::load(file).to_json();
    EXPECT_EQ(ours, sorted_sets(peft));
    // json == treats 0 and 0.0 alike; the text shows int/float and key order too.
    EXPECT_EQ(ours.dump(2), sorted_sets(peft).dump(2));
  }
}

TEST(GoldenConfig, SaveIsByteIdenticalToPeftWhenSetOrderAgrees) {
  int compared = 0;
  for (const auto& file : golden_config_files()) {
    SCOPED_TRACE(file.filename().string());
    if (sorted_sets(read_json(file)) != read_json(file)) continue;  // PEFT's hash order differs
    TempDir dir;
    OFTConfig::load(file).save(dir.path / "adapter_config.json");
    EXPECT_EQ(read_text(dir.path / "adapter_config.json"), read_text(file));
    ++compared;
  }
  EXPECT_GE(compared, 10);  // most goldens have a single-element or already sorted set
}

TEST(GoldenConfig, RoundTripKeepsEveryField) {
  for (const auto& file : golden_config_files()) {
    SCOPED_TRACE(file.filename().string());
    const OFTConfig loaded = OFTConfig::load(file);
    const OFTConfig again = OFTConfig::from_json(loaded.to_json());
    expect_same(again, loaded);
    EXPECT_EQ(again.to_json(), loaded.to_json());
  }
}

// ---- PEFT's errors and warnings ----------------------------------------------------------------

TEST(PeftMessages, ErrorsCarryPeftsText) {
  int checked = 0;
  for (const auto& c : errors_golden()["cases"]) {
    if (c["kind"] != "error") continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    EXPECT_EQ(c["type"], "ValueError");  // PEFT's ValueError is our ConfigError
    const json input = c["input"];
    const std::string message = config_error([&] {
      if (c["via"] == "from_pretrained") {
        OFTConfig::from_adapter_config(input);
      } else {
        OFTConfig::from_json(input);
      }
    });
    EXPECT_NE(message.find(rstrip(c["message"].get<std::string>())), std::string::npos) << message;
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

TEST(PeftMessages, OldFormatSaysWhatTheFileIs) {
  const std::string message = config_error([] { OFTConfig::from_adapter_config(golden_case("old_format")["input"]); });
  EXPECT_NE(message.find("\"oft_block_size\""), std::string::npos) << message;
  EXPECT_NE(message.find("older than 0.14.0"), std::string::npos) << message;
}

TEST(PeftMessages, OldFormatIsOnlyRefusedWhenLoadingAnAdapter) {
  // from_json is the dataclass: there a missing oft_block_size just means the default, 32.
  json j = golden_case("old_format")["input"];
  j["r"] = 0;
  EXPECT_EQ(OFTConfig::from_json(j).oft_block_size, 32);
  EXPECT_THROW(OFTConfig::from_adapter_config(j), ConfigError);
}

TEST(PeftMessages, Pre018NeumannAdapterWarnsWithPeftsText) {
  const json& c = golden_case("neumann_pre_0_18");
  ASSERT_EQ(c["kind"], "warning");
  LogCapture log;
  const OFTConfig loaded = OFTConfig::from_adapter_config(c["input"]);
  EXPECT_EQ(log.warnings(), 1);
  EXPECT_NE(log.text().find(c["message"].get<std::string>()), std::string::npos) << log.text();
  EXPECT_EQ(loaded.peft_version, "0.17.0");
}

json neumann_config(const json& peft_version) {
  json j = golden_case("neumann_pre_0_18")["input"];
  j["peft_version"] = peft_version;
  return j;
}

int warnings_loading(const json& adapter_config) {
  LogCapture log;
  OFTConfig::from_adapter_config(adapter_config);
  return log.warnings();
}

TEST(PeftMessages, VersionOrderingFollowsPackaging) {
  const json& versions = errors_golden()["versions_below_0_18_0"];
  ASSERT_GE(versions.size(), 20u);
  for (const auto& [version, below] : versions.items()) {
    SCOPED_TRACE(version);
    EXPECT_EQ(warnings_loading(neumann_config(version)), below.get<bool>() ? 1 : 0);
  }
}

TEST(PeftMessages, VersionIsCutAtTheCommitHash) {
  EXPECT_EQ(warnings_loading(neumann_config("0.18.2.dev0@UNKNOWN")), 0);
  EXPECT_EQ(warnings_loading(neumann_config("0.17.0@0123abcd")), 1);
  EXPECT_EQ(warnings_loading(neumann_config("0.18.0.dev0@0123abcd")), 1);
}

TEST(PeftMessages, MissingOrNullVersionCountsAsOld) {
  json missing = neumann_config("x");
  missing.erase("peft_version");
  EXPECT_EQ(warnings_loading(missing), 1);
  EXPECT_EQ(warnings_loading(neumann_config(nullptr)), 1);  // PEFT itself crashes on null
}

TEST(PeftMessages, NoWarningUnlessNeumannIsExplicitlyOn) {
  json off = neumann_config("0.15.0");
  off["use_cayley_neumann"] = false;
  EXPECT_EQ(warnings_loading(off), 0);
  json absent = neumann_config("0.15.0");  // a 0.14/0.15 file: no such key, default true
  absent.erase("use_cayley_neumann");
  EXPECT_EQ(warnings_loading(absent), 0);
  EXPECT_TRUE(OFTConfig::from_adapter_config(absent).use_cayley_neumann);
}

TEST(PeftMessages, UnparsableVersionIsAnErrorNamingTheKey) {
  const std::string message = config_error([] { OFTConfig::from_adapter_config(neumann_config("zero.eighteen")); });
  EXPECT_NE(message.find("\"peft_version\""), std::string::npos) << message;
  EXPECT_NE(message.find("zero.eighteen"), std::string::npos) << message;
}

// ---- strict parsing ----------------------------------------------------------------------------

TEST(StrictParse, UnknownKeyIsNamed) {
  json j = valid_config().to_json();
  j["rank_pattern"] = json::object();
  const std::string message = config_error([&] { OFTConfig::from_json(j); });
  EXPECT_NE(message.find("\"rank_pattern\""), std::string::npos) << message;
  EXPECT_NE(message.find("not an OFTConfig/PeftConfig key"), std::string::npos) << message;
  EXPECT_NE(message.find("oft_block_size"), std::string::npos) << message;  // lists known keys
}

TEST(StrictParse, WrongTypesNameKeyExpectationAndValue) {
  struct Case {
    std::string key;
    json value;
    std::string expected, given;
  };
  const std::vector<Case> cases{
      {"r", "8", "an integer", "string \"8\""},
      {"r", 8.0, "an integer", "float 8.0"},
      {"oft_block_size", 18446744073709551615ull, "an integer", "integer"},
      {"num_cayley_neumann_terms", true, "an integer", "boolean"},
      {"inference_mode", 1, "a boolean", "integer 1"},
      {"use_cayley_neumann", "true", "a boolean", "string"},
      {"eps", "6e-5", "a number", "string"},
      {"bias", nullptr, "a string", "null"},
      {"task_type", 3, "a string or null", "integer 3"},
      {"target_modules", 5, "a list of strings, a string (regex) or null", "integer 5"},
      {"exclude_modules", json::array({"a", 1}), "a list of strings", "list [\"a\",1]"},
      {"layers_to_transform", "0", "an integer, a list of integers or null", "string"},
      {"layers_to_transform", json::array({0, "1"}), "a list of integers", "list"},
      {"layers_pattern", 3, "a string, a list of strings or null", "integer 3"},
      {"modules_to_save", "head", "a list of strings or null", "string \"head\""},
      {"auto_mapping", json::array(), "an object or null", "list []"},
      {"peft_type", "LORA", "\"OFT\"", "\"LORA\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + " = " + c.value.dump());
    const std::string message = config_error([&] { with_key(c.key, c.value); });
    EXPECT_NE(message.find("\"" + c.key + "\""), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_NE(message.find(c.given), std::string::npos) << message;
  }
}

TEST(StrictParse, NotAnObjectIsRefused) {
  EXPECT_THROW(OFTConfig::from_json(json::array()), ConfigError);
  EXPECT_THROW(OFTConfig::from_adapter_config("OFT"), ConfigError);
}

TEST(StrictParse, NullsWherePeftAllowsNone) {
  json j = valid_config().to_json();
  for (const char* key :
       {"task_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "target_modules",
        "exclude_modules", "layers_to_transform", "layers_pattern", "modules_to_save", "peft_type"}) {
    j[key] = nullptr;
  }
  const OFTConfig c = OFTConfig::from_json(j);
  EXPECT_FALSE(c.task_type || c.auto_mapping_json || c.peft_version || c.base_model_name_or_path || c.revision ||
               c.layers_to_transform || c.layers_pattern || c.modules_to_save);
  EXPECT_FALSE(c.target_modules.is_set() || c.exclude_modules.is_set());
  EXPECT_EQ(c.to_json()["peft_type"], "OFT");
}

TEST(StrictParse, MissingKeysTakePeftDefaults) {
  const OFTConfig c = OFTConfig::from_json(json::object());
  expect_same(c, OFTConfig{});
  EXPECT_EQ(c.oft_block_size, 32);
  EXPECT_TRUE(c.use_cayley_neumann);
  EXPECT_EQ(c.num_cayley_neumann_terms, 5);
  EXPECT_EQ(c.eps, 6e-5);
}

TEST(StrictParse, IntegersAreAcceptedForFloatKeys) {
  EXPECT_EQ(with_key("eps", 1).eps, 1.0);
  EXPECT_EQ(with_key("module_dropout", 0).to_json()["module_dropout"].dump(), "0.0");
}

// ---- selectors and layer filters ---------------------------------------------------------------

TEST(Selectors, ListsBecomeSortedUniqueNames) {
  const ModuleSelector s = ModuleSelector::from_names({"v", "q", "v", "k"});
  EXPECT_EQ(s.kind, ModuleSelector::Kind::Names);
  EXPECT_EQ(s.names, (std::vector<std::string>{"k", "q", "v"}));
  const OFTConfig c = with_key("target_modules", json::array({"v", "q", "v"}));
  EXPECT_EQ(c.target_modules.names, (std::vector<std::string>{"q", "v"}));
  EXPECT_EQ(c.to_json()["target_modules"], json::array({"q", "v"}));
}

TEST(Selectors, StringsStayRegexesIncludingAllLinear) {
  const OFTConfig c = with_key("target_modules", "all-linear");
  EXPECT_EQ(c.target_modules.kind, ModuleSelector::Kind::Regex);
  EXPECT_EQ(c.target_modules.regex, "all-linear");
  EXPECT_EQ(c.to_json()["target_modules"], "all-linear");
  const OFTConfig e = with_key("exclude_modules", ".*lm_head");
  EXPECT_EQ(e.exclude_modules.kind, ModuleSelector::Kind::Regex);
  EXPECT_EQ(e.to_json()["exclude_modules"], ".*lm_head");
  EXPECT_TRUE(ModuleSelector::from_regex("x").is_set());
  EXPECT_FALSE(ModuleSelector{}.is_set());
}

TEST(Selectors, HandBuiltNamesAreWrittenSorted) {
  OFTConfig c = valid_config();
  c.target_modules.names = {"v", "q"};
  EXPECT_EQ(c.to_json()["target_modules"], json::array({"q", "v"}));
}

TEST(LayerFilters, ScalarOrListFormIsKept) {
  json j = valid_config().to_json();
  j["layers_to_transform"] = 3;
  j["layers_pattern"] = "h";
  const OFTConfig scalar = OFTConfig::from_json(j);
  EXPECT_EQ(scalar.layers_to_transform, std::vector<int64_t>{3});
  EXPECT_TRUE(scalar.layers_to_transform_is_scalar && scalar.layers_pattern_is_scalar);
  EXPECT_EQ(scalar.to_json()["layers_to_transform"], 3);
  EXPECT_EQ(scalar.to_json()["layers_pattern"], "h");

  j["layers_to_transform"] = json::array({3});
  j["layers_pattern"] = json::array({"h"});
  const OFTConfig list = OFTConfig::from_json(j);
  EXPECT_FALSE(list.layers_to_transform_is_scalar || list.layers_pattern_is_scalar);
  EXPECT_EQ(list.to_json()["layers_to_transform"], json::array({3}));
  EXPECT_EQ(list.to_json()["layers_pattern"], json::array({"h"}));
}

TEST(LayerFilters, LayerZeroSatisfiesLayersPattern) {
  json j = valid_config().to_json();
  j["layers_to_transform"] = 0;
  j["layers_pattern"] = "layers";
  EXPECT_EQ(OFTConfig::from_json(j).layers_to_transform, std::vector<int64_t>{0});
}

TEST(LayerFilters, EmptyLayersPatternIsFalsyLikeInPython) {
  EXPECT_NO_THROW(with_key("layers_pattern", ""));
  EXPECT_NO_THROW(with_key("layers_pattern", json::array()));
  const std::string message = config_error([] { with_key("layers_pattern", json::array({"h"})); });
  EXPECT_NE(message.find("layers_pattern = [\"h\"]"), std::string::npos) << message;
}

// ---- validation beyond PEFT --------------------------------------------------------------------

TEST(ExtraValidation, RefusesWhatPeftWouldMisuse) {
  struct Case {
    std::string key;
    json value;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"bias", "lora_only", "one of \"none\", \"all\", \"oft_only\""},
      {"oft_block_size", -4, "non-negative"},
      {"module_dropout", 1.0, "[0, 1)"},
      {"module_dropout", -0.1, "[0, 1)"},
      {"eps", 0.0, "positive"},
      {"eps", -1e-3, "positive"},
      {"num_cayley_neumann_terms", 1, "identity"},
      {"num_cayley_neumann_terms", 0, "at least 2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + " = " + c.value.dump());
    const std::string message = config_error([&] { with_key(c.key, c.value); });
    EXPECT_NE(message.find("\"" + c.key + "\""), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
}

TEST(ExtraValidation, NegativeRIsRefused) {
  json j = valid_config().to_json();
  j["r"] = -2;
  j["oft_block_size"] = 0;
  const std::string message = config_error([&] { OFTConfig::from_json(j); });
  EXPECT_NE(message.find("\"r\""), std::string::npos) << message;
}

TEST(ExtraValidation, BoundaryValuesAreAccepted) {
  EXPECT_NO_THROW(with_key("module_dropout", 0.0));
  EXPECT_NO_THROW(with_key("module_dropout", 0.999));
  EXPECT_NO_THROW(with_key("num_cayley_neumann_terms", 2));
  json exact = valid_config().to_json();
  exact["use_cayley_neumann"] = false;
  exact["num_cayley_neumann_terms"] = 1;  // unused by the exact Cayley transform
  EXPECT_NO_THROW(OFTConfig::from_json(exact));
  for (const char* bias : {"none", "all", "oft_only"}) EXPECT_NO_THROW(with_key("bias", bias));
}

TEST(ExtraValidation, StructInvariants) {
  OFTConfig c = valid_config();
  c.layers_to_transform = {{1, 2}};
  c.layers_to_transform_is_scalar = true;
  EXPECT_THROW(c.validate(), ConfigError);
  c = valid_config();
  c.layers_pattern_is_scalar = true;
  EXPECT_THROW(c.validate(), ConfigError);
  c = valid_config();
  c.auto_mapping_json = "not json";
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_NO_THROW(valid_config().validate());
}

TEST(ExtraValidation, PeftRulesComeFirst) {
  // r=8 with the default block size is PEFT's XOR error, whatever else is wrong.
  json j = {{"r", 8}, {"bias", "bad"}};
  EXPECT_NE(config_error([&] { OFTConfig::from_json(j); }).find("not both simultaneously"), std::string::npos);
}

// ---- to_json -----------------------------------------------------------------------------------

TEST(ToJson, WritesExactlyPeftsKeys) {
  const json j = OFTConfig{}.to_json();
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  const std::vector<std::string> expected{"auto_mapping",
                                          "base_model_name_or_path",
                                          "bias",
                                          "block_share",
                                          "coft",
                                          "eps",
                                          "exclude_modules",
                                          "fan_in_fan_out",
                                          "inference_mode",
                                          "init_weights",
                                          "layers_pattern",
                                          "layers_to_transform",
                                          "module_dropout",
                                          "modules_to_save",
                                          "num_cayley_neumann_terms",
                                          "oft_block_size",
                                          "peft_type",
                                          "peft_version",
                                          "r",
                                          "revision",
                                          "target_modules",
                                          "task_type",
                                          "use_cayley_neumann"};
  EXPECT_EQ(keys, expected);  // sorted, like json.dumps(sort_keys=True)
  // Same key set as a file PEFT wrote.
  const json peft = read_json(kConfigDir / "r_given.json");
  std::vector<std::string> peft_keys;
  for (const auto& [key, value] : peft.items()) peft_keys.push_back(key);
  EXPECT_EQ(keys, peft_keys);
}

TEST(ToJson, FillsPeftVersionAndKeepsInferenceMode) {
  OFTConfig c;
  EXPECT_EQ(c.to_json()["peft_version"], peft_version_of_goldens());  // never null
  EXPECT_EQ(c.to_json()["inference_mode"], false);
  c.inference_mode = true;
  c.peft_version = "0.18.2.dev0@UNKNOWN";
  EXPECT_EQ(c.to_json()["inference_mode"], true);
  EXPECT_EQ(c.to_json()["peft_version"], "0.18.2.dev0@UNKNOWN");
  EXPECT_EQ(c.to_json()["auto_mapping"], nullptr);
}

TEST(ToJson, AutoMappingIsParsedJson) {
  OFTConfig c;
  c.auto_mapping_json = R"({"base_model_class": "M", "parent_library": "x.y"})";
  EXPECT_EQ(c.to_json()["auto_mapping"]["parent_library"], "x.y");
}

// ---- load / save -------------------------------------------------------------------------------

TEST(LoadSave, MissingFileNamesThePath) {
  const fs::path missing = kConfigDir / "does_not_exist.json";
  try {
    OFTConfig::load(missing);
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(LoadSave, BadJsonNamesPathAndPosition) {
  TempDir dir;
  const fs::path file = dir.path / "adapter_config.json";
  std::ofstream(file) << "{\n  \"r\": 0,\n  oops\n}";
  try {
    OFTConfig::load(file);
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find("line 3"), std::string::npos) << message;
  }
}

TEST(LoadSave, ConfigErrorsNameThePath) {
  TempDir dir;
  const fs::path file = dir.path / "adapter_config.json";
  std::ofstream(file) << golden_case("old_format")["input"].dump();
  const std::string message = config_error([&] { OFTConfig::load(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("OFT has been updated since PEFT 0.14.0"), std::string::npos) << message;
}

TEST(LoadSave, SaveIsAtomicAndRoundTrips) {
  TempDir dir;
  const fs::path file = dir.path / "adapter_config.json";
  std::ofstream(file) << "old content";
  OFTConfig c = valid_config();
  c.layers_to_transform = {{0}};
  c.layers_to_transform_is_scalar = true;
  c.base_model_name_or_path = "caf\xc3\xa9";
  c.save(file);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"adapter_config.json"});  // no tmp left
  const std::string text = read_text(file);
  EXPECT_EQ(text, c.to_json().dump(2, ' ', true));
  EXPECT_NE(text.find("\"caf\\u00e9\""), std::string::npos);  // ASCII escapes, like json.dumps
  expect_same(OFTConfig::load(file), OFTConfig::from_json(c.to_json()));
}

TEST(LoadSave, InvalidConfigIsNotWritten) {
  TempDir dir;
  OFTConfig c = valid_config();
  c.r = -1;
  EXPECT_THROW(c.save(dir.path / "adapter_config.json"), ConfigError);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(LoadSave, UnwritableTargetLeavesNothing) {
  TempDir dir;
  EXPECT_THROW(valid_config().save(dir.path / "missing_dir" / "adapter_config.json"), FormatError);
  const fs::path blocked = dir.path / "is_a_dir";  // rename onto a non-empty directory fails
  fs::create_directories(blocked / "child");
  EXPECT_THROW(valid_config().save(blocked), FormatError);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"is_a_dir"});
}

}  // namespace
