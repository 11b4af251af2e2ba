#pragma once
// EETQ's settings as config.json's "quantization_config" writes them (transformers' EetqConfig:
// {"quant_method": "eetq", "weights": "int8", "modules_to_not_convert": [...] | null}). Torch-free.
#include <string>

namespace oft::eetq {

// True when the JSON text is an object naming quant_method "eetq" ("" or invalid JSON: false).
bool is_eetq_quantization_config(const std::string& json_text);

// Checks a model's quantization_config before loading: quant_method "eetq" and "weights" "int8" (the only
// value EETQ has); modules_to_not_convert needs nothing here (those modules are stored dense). Throws
// std::invalid_argument naming the key.
void check_quantization_config(const std::string& json_text);

// Checks `oft quantize --method eetq` options: {"weights": "int8"} and {"quant_method": "eetq"} only,
// unknown keys are errors. Throws std::invalid_argument naming the option.
void check_options(const std::string& json_text);

// config.json's "quantization_config" for a model quantized by this plugin (EetqConfig().to_dict()).
std::string quantization_config_json();

}  // namespace oft::eetq
