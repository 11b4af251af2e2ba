#include "oft/adapter/config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string_view>
#include <tuple>

#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>

#include "oft/errors.h"
#include "oft/io/atomic_file.h"
#include "oft/log.h"

namespace oft {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::array<std::string_view, 6> kTaskTypes{"SEQ_CLS",   "SEQ_2_SEQ_LM", "CAUSAL_LM",
                                                     "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"};
constexpr std::array<std::string_view, 3> kBiasValues{"none", "all", "oft_only"};  // in Bias order

// The PEFT release whose adapter_config.json this file mirrors. Written when peft_version is unset,
// as PEFT's __post_init__ always fills it: a null there makes PEFT's check_kwargs crash.
constexpr std::string_view kPeftFormatVersion = "0.21.2";

// PEFT's own texts (peft/tuners/oft/config.py, 0.21.2), quoted so users can search for them.
constexpr std::string_view kOldFormatText =
    "OFT has been updated since PEFT 0.14.0. Your trained adapter weights are incompatible "
    "with the latest version of OFT. Please retrain your adapter weights with newer PEFT versions. "
    "Alternatively, downgrade PEFT to version 0.13.0 to use the old adapter weights.";
constexpr std::string_view kOldNeumannText =
    "The cayley-neumann parameterization has been slightly changed to be more numerically stable "
    "in PEFT 0.18.0. Please retrain your adapter weights with newer PEFT versions. Alternatively, "
    "downgrade PEFT to version 0.17.0 to use the old parameterization.";

// ---- JSON reading ------------------------------------------------------------------------------

std::string kind_of(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "float";
  if (v.is_array()) return "list";
  return v.type_name();  // null, boolean, string, object
}

// "string \"8\"": the JSON type and (a prefix of) the value, for error messages.
std::string describe(const json& v) {
  std::string text = v.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return kind_of(v) + " " + text;
}

[[noreturn]] void type_error(std::string_view key, std::string_view expected, const json& got) {
  throw ConfigError(fmt::format("OFTConfig key \"{}\": expected {}, got {}", key, expected, describe(got)));
}

bool get_bool(std::string_view key, const json& v) {
  if (!v.is_boolean()) type_error(key, "a boolean", v);
  return v.get<bool>();
}

bool fits_int64(const json& v) {
  return v.is_number_integer() &&
         (!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

int64_t get_int(std::string_view key, const json& v) {
  if (!fits_int64(v)) type_error(key, "an integer", v);
  return v.get<int64_t>();
}

double get_number(std::string_view key, const json& v) {
  if (!v.is_number()) type_error(key, "a number", v);
  return v.get<double>();
}

std::string get_string(std::string_view key, const json& v) {
  if (!v.is_string()) type_error(key, "a string", v);
  return v.get<std::string>();
}

std::optional<std::string> get_opt_string(std::string_view key, const json& v) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) type_error(key, "a string or null", v);
  return v.get<std::string>();
}

bool is_string_list(const json& v) {
  return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
}

std::optional<std::vector<std::string>> get_opt_string_list(std::string_view key, const json& v) {
  if (v.is_null()) return std::nullopt;
  if (!is_string_list(v)) type_error(key, "a list of strings or null", v);
  return v.get<std::vector<std::string>>();
}

ModuleSelector get_selector(std::string_view key, const json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return ModuleSelector::from_regex(v.get<std::string>());
  if (!is_string_list(v)) type_error(key, "a list of strings, a string (regex) or null", v);
  return ModuleSelector::from_names(v.get<std::vector<std::string>>());
}

void set_layers_to_transform(OFTConfig& c, std::string_view key, const json& v) {
  c.layers_to_transform_is_scalar = fits_int64(v);
  if (v.is_null()) {
    c.layers_to_transform.reset();
  } else if (c.layers_to_transform_is_scalar) {
    c.layers_to_transform = std::vector<int64_t>{v.get<int64_t>()};
  } else if (v.is_array() && std::all_of(v.begin(), v.end(), fits_int64)) {
    c.layers_to_transform = v.get<std::vector<int64_t>>();
  } else {
    type_error(key, "an integer, a list of integers or null", v);
  }
}

void set_layers_pattern(OFTConfig& c, std::string_view key, const json& v) {
  c.layers_pattern_is_scalar = v.is_string();
  if (v.is_null()) {
    c.layers_pattern.reset();
  } else if (v.is_string()) {
    c.layers_pattern = std::vector<std::string>{v.get<std::string>()};
  } else if (is_string_list(v)) {
    c.layers_pattern = v.get<std::vector<std::string>>();
  } else {
    type_error(key, "a string, a list of strings or null", v);
  }
}

void check_peft_type(std::string_view key, const json& v) {
  // PEFT's dataclass field is Optional (None becomes OFT); any other type is another config class.
  const auto type = get_opt_string(key, v);
  if (type && *type != "OFT") {
    throw ConfigError(fmt::format(
        "OFTConfig key \"{}\": expected \"OFT\" (or null), got \"{}\": not an OFT adapter config", key, *type));
  }
}

using Setter = void (*)(OFTConfig&, std::string_view key, const json&);

// Every key PEFT 0.21.2 writes to an OFT adapter_config.json, with its parser.
const std::map<std::string_view, Setter>& setters() {
  static const std::map<std::string_view, Setter> table{
      {"auto_mapping",
       [](OFTConfig& c, std::string_view k, const json& v) {
         if (!v.is_null() && !v.is_object()) type_error(k, "an object or null", v);
         c.auto_mapping_json = v.is_null() ? std::nullopt : std::optional(v.dump());
       }},
      {"base_model_name_or_path",
       [](OFTConfig& c, std::string_view k, const json& v) { c.base_model_name_or_path = get_opt_string(k, v); }},
      {"bias", [](OFTConfig& c, std::string_view k, const json& v) { c.bias = bias_from_string(get_string(k, v)); }},
      {"block_share", [](OFTConfig& c, std::string_view k, const json& v) { c.block_share = get_bool(k, v); }},
      {"coft", [](OFTConfig& c, std::string_view k, const json& v) { c.coft = get_bool(k, v); }},
      {"eps", [](OFTConfig& c, std::string_view k, const json& v) { c.eps = get_number(k, v); }},
      {"exclude_modules",
       [](OFTConfig& c, std::string_view k, const json& v) { c.exclude_modules = get_selector(k, v); }},
      {"fan_in_fan_out", [](OFTConfig& c, std::string_view k, const json& v) { c.fan_in_fan_out = get_bool(k, v); }},
      {"inference_mode", [](OFTConfig& c, std::string_view k, const json& v) { c.inference_mode = get_bool(k, v); }},
      {"init_weights", [](OFTConfig& c, std::string_view k, const json& v) { c.init_weights = get_bool(k, v); }},
      {"layers_pattern", set_layers_pattern},
      {"layers_to_transform", set_layers_to_transform},
      {"module_dropout", [](OFTConfig& c, std::string_view k, const json& v) { c.module_dropout = get_number(k, v); }},
      {"modules_to_save",
       [](OFTConfig& c, std::string_view k, const json& v) { c.modules_to_save = get_opt_string_list(k, v); }},
      {"num_cayley_neumann_terms",
       [](OFTConfig& c, std::string_view k, const json& v) { c.num_cayley_neumann_terms = get_int(k, v); }},
      {"oft_block_size", [](OFTConfig& c, std::string_view k, const json& v) { c.oft_block_size = get_int(k, v); }},
      {"peft_type", [](OFTConfig&, std::string_view k, const json& v) { check_peft_type(k, v); }},
      {"peft_version", [](OFTConfig& c, std::string_view k, const json& v) { c.peft_version = get_opt_string(k, v); }},
      {"r", [](OFTConfig& c, std::string_view k, const json& v) { c.r = get_int(k, v); }},
      {"revision", [](OFTConfig& c, std::string_view k, const json& v) { c.revision = get_opt_string(k, v); }},
      {"target_modules",
       [](OFTConfig& c, std::string_view k, const json& v) { c.target_modules = get_selector(k, v); }},
      {"task_type", [](OFTConfig& c, std::string_view k, const json& v) { c.task_type = get_opt_string(k, v); }},
      {"use_cayley_neumann",
       [](OFTConfig& c, std::string_view k, const json& v) { c.use_cayley_neumann = get_bool(k, v); }},
  };
  return table;
}

std::string known_keys() {
  std::string list;
  for (const auto& [key, setter] : setters()) list += (list.empty() ? "" : ", ") + std::string(key);
  return list;
}

void require_object(const json& j) {
  if (!j.is_object()) {
    throw ConfigError("OFTConfig: expected a JSON object of config keys, got " + describe(j));
  }
}

// ---- PEP 440 ordering --------------------------------------------------------------------------

// Sort key of a PEP 440 version as packaging.version orders it (epoch, release without trailing
// zeros, pre, post, dev), exact for comparisons with a final release, the only use here: so a bare
// dev release is not moved before the pre-releases, and the local part ("+...") is ignored.
using VersionKey = std::tuple<int64_t, std::vector<int64_t>, std::pair<int, int64_t>, int64_t, int64_t>;

std::optional<int64_t> to_int(const std::ssub_match& m, int64_t if_absent) {
  if (!m.matched) return if_absent;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(&*m.first, &*m.first + m.length(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::optional<std::vector<int64_t>> release_of(const std::string& text) {
  std::vector<int64_t> release;
  for (size_t start = 0; start <= text.size();) {
    const size_t dot = std::min(text.find('.', start), text.size());
    int64_t part = 0;
    if (std::from_chars(text.data() + start, text.data() + dot, part).ec != std::errc()) {
      return std::nullopt;
    }
    release.push_back(part);
    start = dot + 1;
  }
  while (!release.empty() && release.back() == 0) release.pop_back();
  return release;
}

int pre_rank(std::string label) {
  std::transform(label.begin(), label.end(), label.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (label == "a" || label == "alpha") return 0;
  if (label == "b" || label == "beta") return 1;
  return 2;  // c, rc, pre, preview
}

std::optional<VersionKey> version_key(const std::string& text) {
  // packaging's VERSION_PATTERN with numbered groups: 1 epoch, 2 release, 3-4 pre, 5-7 post (-N or
  // label + number), 8-9 dev.
  static const std::regex pattern(R"(\s*v?(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*))"
                                  R"((?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?)"
                                  R"((?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?)"
                                  R"((?:[-_.]?(dev)[-_.]?([0-9]+)?)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*)",
                                  std::regex::icase);
  std::smatch m;
  if (!std::regex_match(text, m, pattern)) return std::nullopt;
  const bool has_post = m[5].matched || m[6].matched;
  const bool has_dev = m[8].matched;
  const auto epoch = to_int(m[1], 0);
  const auto release = release_of(m[2].str());
  const auto pre_n = to_int(m[4], 0);
  const auto post_n = to_int(m[5].matched ? m[5] : m[7], 0);
  const auto dev_n = to_int(m[9], 0);
  if (!epoch || !release || !pre_n || !post_n || !dev_n) return std::nullopt;
  // No pre-release sorts after all pre-releases, no post before all posts, no dev after all devs.
  const std::pair<int, int64_t> pre = m[3].matched ? std::pair(pre_rank(m[3].str()), *pre_n) : std::pair(3, int64_t{0});
  return VersionKey{*epoch, *release, pre, has_post ? *post_n : -1,
                    has_dev ? *dev_n : std::numeric_limits<int64_t>::max()};
}

// check_kwargs' second rule: Neumann adapters from before PEFT 0.18.0 used another series.
void warn_if_old_neumann(const std::optional<std::string>& peft_version) {
  // Missing means older than 0.18.0 (the key was added then); PEFT itself crashes on null.
  const std::string full = peft_version.value_or("0.0.0");
  const std::string version = full.substr(0, full.find('@'));
  const auto key = version_key(version);
  if (!key) {
    throw ConfigError(
        fmt::format("OFTConfig key \"peft_version\": expected a PEP 440 version, optionally followed by "
                    "\"@<commit>\", got \"{}\"",
                    full));
  }
  if (*key < *version_key("0.18.0")) {
    logger()->warn(
        "adapter_config.json: peft_version \"{}\" is older than 0.18.0 and "
        "use_cayley_neumann is true. {}",
        full, kOldNeumannText);
  }
}

// ---- validation --------------------------------------------------------------------------------

template <size_t N>
bool one_of(const std::string& value, const std::array<std::string_view, N>& allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

template <size_t N>
std::string joined(const std::array<std::string_view, N>& values, std::string_view quote) {
  std::string out;
  for (const auto& v : values) {
    out += fmt::format("{}{}{}{}", out.empty() ? "" : ", ", quote, v, quote);
  }
  return out;
}

// PEFT's truthiness test: None, "" and [] do not count as a layers_pattern.
bool has_layers_pattern(const OFTConfig& c) {
  if (!c.layers_pattern) return false;
  if (c.layers_pattern->empty()) return false;
  return !c.layers_pattern_is_scalar || !c.layers_pattern->front().empty();
}

template <typename T>
std::string json_text(const std::optional<std::vector<T>>& values, bool scalar) {
  if (!values) return "null";
  return scalar && values->size() == 1 ? json(values->front()).dump() : json(*values).dump();
}

// __post_init__ of PeftConfigMixin and OFTConfig, in PEFT's order and with PEFT's texts.
void validate_like_peft(const OFTConfig& c) {
  if (c.task_type && !one_of(*c.task_type, kTaskTypes)) {
    throw ConfigError(
        fmt::format("OFTConfig key \"task_type\": Invalid task type: '{}'. Must be one of the following task "
                    "types: {}.",
                    *c.task_type, joined(kTaskTypes, "")));
  }
  if (has_layers_pattern(c) && !c.layers_to_transform) {
    throw ConfigError(
        fmt::format("OFTConfig: When `layers_pattern` is specified, `layers_to_transform` must also be "
                    "specified. Got layers_pattern = {} and layers_to_transform = null.",
                    json_text(c.layers_pattern, c.layers_pattern_is_scalar)));
  }
  if (c.r == 0 && c.oft_block_size == 0) {
    throw ConfigError(
        fmt::format("OFTConfig: Either `r` or `oft_block_size` must be non-zero. Currently, r = {} and "
                    "oft_block_size = {}.",
                    c.r, c.oft_block_size));
  }
  if ((c.r != 0) == (c.oft_block_size != 0)) {
    throw ConfigError(
        fmt::format("OFTConfig: You can only specify either r ({}) or oft_block_size ({}), but not both "
                    "simultaneously, because r x oft_block_size == in_features. Set the other one to 0 "
                    "(oft_block_size defaults to 32).",
                    c.r, c.oft_block_size));
  }
}

[[noreturn]] void value_error(std::string_view key, std::string_view expected, std::string_view got) {
  throw ConfigError(fmt::format("OFTConfig key \"{}\": expected {}, got {}", key, expected, got));
}

// The rules PEFT leaves out (its values would fail later or silently do nothing).
void validate_ranges(const OFTConfig& c) {
  if (c.r < 0) value_error("r", "a non-negative number of blocks", std::to_string(c.r));
  if (c.oft_block_size < 0) {
    value_error("oft_block_size", "a non-negative block size", std::to_string(c.oft_block_size));
  }
  if (!(c.module_dropout >= 0.0 && c.module_dropout < 1.0)) {
    value_error("module_dropout", "a probability in [0, 1)", fmt::format("{}", c.module_dropout));
  }
  if (!(c.eps > 0.0)) value_error("eps", "a positive COFT radius", fmt::format("{}", c.eps));
  if (c.use_cayley_neumann && c.num_cayley_neumann_terms < 2) {
    value_error("num_cayley_neumann_terms",
                "at least 2 when use_cayley_neumann is true (PEFT accepts <= 1 but then silently "
                "uses the identity rotation, so the adapter would do nothing; this library "
                "refuses it)",
                std::to_string(c.num_cayley_neumann_terms));
  }
}

// Invariants of the C++ struct itself (a scalar form holds exactly one value, auto_mapping parses).
void validate_representation(const OFTConfig& c) {
  if (c.layers_to_transform_is_scalar && (!c.layers_to_transform || c.layers_to_transform->size() != 1)) {
    value_error("layers_to_transform", "exactly one index when layers_to_transform_is_scalar",
                json_text(c.layers_to_transform, false));
  }
  if (c.layers_pattern_is_scalar && (!c.layers_pattern || c.layers_pattern->size() != 1)) {
    value_error("layers_pattern", "exactly one name when layers_pattern_is_scalar", json_text(c.layers_pattern, false));
  }
  if (c.auto_mapping_json && !json::parse(*c.auto_mapping_json, nullptr, false).is_object()) {
    value_error("auto_mapping", "a serialized JSON object", *c.auto_mapping_json);
  }
}

// ---- writing -----------------------------------------------------------------------------------

template <typename T>
json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json selector_json(const ModuleSelector& s) {
  switch (s.kind) {
    case ModuleSelector::Kind::Names:
      return ModuleSelector::from_names(s.names).names;  // sorted even if filled by hand
    case ModuleSelector::Kind::Regex: return s.regex;
    case ModuleSelector::Kind::Unset: break;
  }
  return nullptr;
}

template <typename T>
json maybe_scalar(const std::optional<std::vector<T>>& values, bool scalar) {
  if (!values) return nullptr;
  return scalar && values->size() == 1 ? json(values->front()) : json(*values);
}

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw FormatError(fmt::format("cannot open OFT adapter config \"{}\": {}", path.string(), std::strerror(errno)));
  }
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw FormatError(fmt::format("\"{}\" is not valid JSON (at byte {}): {}", path.string(), e.byte, e.what()));
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    throw FormatError(fmt::format("\"{}\" is not valid JSON: {}", path.string(), e.what()));
  }
}

}  // namespace

ModuleSelector ModuleSelector::from_names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  ModuleSelector s;
  s.kind = Kind::Names;
  s.names = std::move(names);
  return s;
}

ModuleSelector ModuleSelector::from_regex(std::string regex) {
  ModuleSelector s;
  s.kind = Kind::Regex;
  s.regex = std::move(regex);
  return s;
}

std::string_view to_string(Bias bias) {
  const auto i = static_cast<size_t>(bias);
  return i < kBiasValues.size() ? kBiasValues[i] : "invalid";
}

Bias bias_from_string(std::string_view text) {
  for (size_t i = 0; i < kBiasValues.size(); ++i)
    if (kBiasValues[i] == text) return static_cast<Bias>(i);
  value_error("bias", "one of " + joined(kBiasValues, "\""), "\"" + std::string(text) + "\"");
}

void OFTConfig::validate() const {
  validate_like_peft(*this);
  validate_ranges(*this);
  validate_representation(*this);
}

OFTConfig OFTConfig::from_json(const json& j) {
  require_object(j);
  OFTConfig c;
  std::optional<std::string> bias;  // read after PEFT's own checks, which PEFT reports first
  for (const auto& [key, value] : j.items()) {
    if (key == "bias") {
      bias = get_string(key, value);
      continue;
    }
    const auto setter = setters().find(key);
    if (setter == setters().end()) {
      throw ConfigError(fmt::format(
          "OFTConfig: unknown key \"{}\": it is not an OFTConfig/PeftConfig key (known keys: {})", key, known_keys()));
    }
    setter->second(c, key, value);
  }
  // validate()'s steps, with the bias text read between PEFT's checks and ours.
  validate_like_peft(c);
  if (bias) c.bias = bias_from_string(*bias);
  validate_ranges(c);
  validate_representation(c);
  return c;
}

OFTConfig OFTConfig::from_adapter_config(const json& j) {
  require_object(j);
  if (!j.contains("oft_block_size")) {
    throw ConfigError(
        fmt::format("OFTConfig: adapter_config.json has no \"oft_block_size\" key, so it was written by PEFT "
                    "older than 0.14.0, whose OFT adapters have a different, incompatible weight format. "
                    "PEFT says: {}",
                    kOldFormatText));
  }
  OFTConfig c = from_json(j);
  // Like PEFT, only an explicit use_cayley_neumann=true asks for the check (0.14-0.15 files lack
  // it).
  if (j.contains("use_cayley_neumann") && c.use_cayley_neumann) warn_if_old_neumann(c.peft_version);
  return c;
}

json OFTConfig::to_json() const {
  json j = json::object();  // std::map: keys come out sorted, like json.dumps(sort_keys=True)
  j["auto_mapping"] = auto_mapping_json ? json::parse(*auto_mapping_json) : json(nullptr);
  j["base_model_name_or_path"] = or_null(base_model_name_or_path);
  j["bias"] = std::string(to_string(bias));
  j["block_share"] = block_share;
  j["coft"] = coft;
  j["eps"] = eps;
  j["exclude_modules"] = selector_json(exclude_modules);
  j["fan_in_fan_out"] = fan_in_fan_out;
  j["inference_mode"] = inference_mode;
  j["init_weights"] = init_weights;
  j["layers_pattern"] = maybe_scalar(layers_pattern, layers_pattern_is_scalar);
  j["layers_to_transform"] = maybe_scalar(layers_to_transform, layers_to_transform_is_scalar);
  j["module_dropout"] = module_dropout;
  j["modules_to_save"] = or_null(modules_to_save);
  j["num_cayley_neumann_terms"] = num_cayley_neumann_terms;
  j["oft_block_size"] = oft_block_size;
  j["peft_type"] = "OFT";
  j["peft_version"] = peft_version.value_or(std::string(kPeftFormatVersion));
  j["r"] = r;
  j["revision"] = or_null(revision);
  j["target_modules"] = selector_json(target_modules);
  j["task_type"] = or_null(task_type);
  j["use_cayley_neumann"] = use_cayley_neumann;
  return j;
}

OFTConfig OFTConfig::load(const fs::path& adapter_config_json) {
  const json j = read_json(adapter_config_json);
  try {
    return from_adapter_config(j);
  } catch (const ConfigError& e) {
    throw ConfigError(adapter_config_json.string() + ": " + e.what());
  }
}

void OFTConfig::save(const fs::path& adapter_config_json) const {
  validate();
  // PEFT's layout: indent 2, ASCII escapes, no trailing newline.
  const std::string text = to_json().dump(2, ' ', true);
  write_atomically(adapter_config_json, [&](std::ostream& out) { out << text; });
}

}  // namespace oft
