#pragma once
// Intel Neural Compressor's FP8Config as its save(format="huggingface") writes it into config.json's
// "quantization_config". It has no "quant_method": INC's dict is recognised by its own keys
// (fp8_config, scale_method, use_qdq / mode). Torch-free.
#include <string>

namespace oft::inc {

struct IncConfig {
  std::string fp8_config = "E4M3";  // "E4M3" (float8_e4m3fn) or "E5M2" (float8_e5m2)
  std::string scale_method = "maxabs_pow2";
  std::string scale_format = "scalar";  // "const" also stores zero points (0.0) beside the scales
  std::string hp_dtype = "bf16";        // the dtype scales, bias and the dequantized matmul use
  // INC's blocklist as JSON text: modules INC's load() leaves dense ({"names": [substrings], "types": [...]}).
  // `oft quantize` leaves the output layer dense, so the method's default options block "lm_head".
  std::string blocklist = R"({"names": [], "types": []})";

  // Weight scales per output channel (INC's *_pcs_* methods) rather than one per tensor.
  bool per_channel_weight() const;
  // Weight scales rounded up to a power of two: every method but maxabs_arbitrary (the HW-aligned
  // Gaudi methods use powers of two too).
  bool pow2_weight() const;
  // Input scales rounded up to a power of two (maxabs_pow2 and act_maxabs_pow2_*).
  bool pow2_input() const;

  // A model's quantization_config (lenient: a scale_method this plugin cannot quantize with still loads).
  // Throws std::invalid_argument naming the key for values it cannot read.
  static IncConfig from_quantization_config(const std::string& json_text);
  // `oft quantize --method inc-fp8` options: fp8_config, scale_method (the three methods the native
  // quantizer implements), scale_format, hp_dtype, blocklist; unknown keys are errors.
  static IncConfig from_options(const std::string& json_text);
  // The FP8Config dict INC writes for a model quantized with these settings (mode "LOAD", use_qdq "True").
  std::string to_quantization_config() const;
};

// True when the JSON text is INC's FP8Config dict: no quant_method, fp8_config and scale_method present.
bool is_inc_quantization_config(const std::string& json_text);

}  // namespace oft::inc
