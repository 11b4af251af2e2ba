#pragma once
// OFTConfig: the keys, defaults and validation of PEFT's OFTConfig (and the PeftConfig keys that
// adapter_config.json carries), read from and written to the same JSON.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "oft/export.h"

namespace oft {

// target_modules / exclude_modules: PEFT accepts a list (exact name or "."-suffix match) or a
// string (a regex that must match the whole module name; "all-linear" is special).
struct OFT_CORE_API ModuleSelector {
  enum class Kind { Unset, Names, Regex };
  Kind kind = Kind::Unset;
  std::vector<std::string> names;  // Kind::Names: sorted, unique (PEFT keeps a set)
  std::string regex;               // Kind::Regex

  bool is_set() const { return kind != Kind::Unset; }
  static ModuleSelector from_names(std::vector<std::string> names);
  static ModuleSelector from_regex(std::string regex);
};

// PEFT's "bias": which biases train with the adapter and are saved with it.
enum class Bias { None, All, OftOnly };
// "none", "all", "oft_only": the strings adapter_config.json uses.
OFT_CORE_API std::string_view to_string(Bias bias);
// ConfigError naming the key and the allowed strings for any other text.
OFT_CORE_API Bias bias_from_string(std::string_view text);

struct OFT_CORE_API OFTConfig {
  // --- PeftConfig keys ---------------------------------------------------------------------------
  std::optional<std::string>
      task_type;  // SEQ_CLS, SEQ_2_SEQ_LM, CAUSAL_LM, TOKEN_CLS, QUESTION_ANS, FEATURE_EXTRACTION
  std::optional<std::string> auto_mapping_json;  // kept verbatim (serialized JSON object) when present
  std::optional<std::string> peft_version;
  std::optional<std::string> base_model_name_or_path;
  std::optional<std::string> revision;
  bool inference_mode = false;

  // --- OFT keys (PEFT's declaration order and defaults) -------------------------------------------
  int64_t r = 0;
  int64_t oft_block_size = 32;
  double module_dropout = 0.0;
  ModuleSelector target_modules;
  bool fan_in_fan_out = false;
  Bias bias = Bias::None;
  ModuleSelector exclude_modules;
  bool init_weights = true;
  std::optional<std::vector<int64_t>> layers_to_transform;
  bool layers_to_transform_is_scalar = false;  // written back as an int when it was one
  std::optional<std::vector<std::string>> layers_pattern;
  bool layers_pattern_is_scalar = false;  // written back as a string when it was one
  std::optional<std::vector<std::string>> modules_to_save;
  bool coft = false;
  double eps = 6e-5;
  bool block_share = false;
  bool use_cayley_neumann = true;
  int64_t num_cayley_neumann_terms = 5;

  // PEFT's __post_init__ rules (task type, layers_pattern needs layers_to_transform, r XOR
  // oft_block_size) plus the checks PEFT forgets (bias value, signs, ranges). Throws ConfigError.
  void validate() const;

  // Strict parse of a JSON object: unknown keys and wrong types are ConfigErrors naming the key.
  // Validates the result.
  static OFTConfig from_json(const nlohmann::json& j);
  // Parse an adapter_config.json as PEFT's OFTConfig.from_pretrained does: also refuses configs
  // from before PEFT 0.14 (no oft_block_size) and warns about pre-0.18 Cayley-Neumann adapters.
  static OFTConfig from_adapter_config(const nlohmann::json& j);
  // All keys, as PEFT's save_pretrained writes them (sorted keys; peft_type "OFT").
  nlohmann::json to_json() const;

  static OFTConfig load(const std::filesystem::path& adapter_config_json);
  // Atomic write (temporary file + rename).
  void save(const std::filesystem::path& adapter_config_json) const;
};

}  // namespace oft
