#pragma once
// The format settings, read from transformers' BitsAndBytesConfig JSON (config.json "quantization_config",
// or the options of `oft quantize`) and written back the same way. Torch-free: JSON stays inside the plugin.
#include <cstdint>
#include <string>

#include "quant_type.h"

namespace oft::bnb {

struct Int8Options {
  // transformers' default (Linear8bitLt's own default is 0): activations with |a| >= threshold take the
  // fp16 outlier path in eval forward.
  double threshold = 6.0;
};

struct FourBitOptions {
  QuantType quant_type = QuantType::FP4;  // transformers' default
  int64_t blocksize = 64;                 // transformers always uses 64; "bnb_4bit_blocksize" is oft's extension
  bool nested = false;                    // bnb_4bit_use_double_quant
  std::string compute_dtype = "float32";  // bnb_4bit_compute_dtype
  std::string quant_storage = "uint8";    // bnb_4bit_quant_storage
};

// Options of `oft quantize` must use known keys; a model's quantization_config may carry keys of newer
// transformers releases, which are ignored.
enum class Source { Options, ModelConfig };

// Parse ("" or "{}" = defaults). Wrong types, bad values and (for Options) unknown keys are
// std::invalid_argument naming the key and what was expected. A config for the other bit width is refused.
Int8Options int8_options(const std::string& json_text, Source source);
FourBitOptions four_bit_options(const std::string& json_text, Source source);

// Whether a quantization_config says load_in_8bit / load_in_4bit (false for "" or another quant_method).
bool config_loads_in_8bit(const std::string& json_text);
bool config_loads_in_4bit(const std::string& json_text);

// The quantization_config transformers writes for these settings (BitsAndBytesConfig.to_dict()).
std::string quantization_config_json(const Int8Options& options);
std::string quantization_config_json(const FourBitOptions& options);

}  // namespace oft::bnb
