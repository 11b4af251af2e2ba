#pragma once
// GPTQ settings as config.json's "quantization_config" writes them (AutoGPTQ, transformers'
// GPTQConfig, GPTQModel's QuantizeConfig). Torch-free.
#include <cstdint>
#include <string>

namespace oft::gptq {

// Zero-point convention of the packed qzeros.
enum class CheckpointFormat {
  V1,  // "gptq": stored field = zero - 1 (AutoGPTQ, transformers, optimum; GPTQModel's export default)
  V2,  // "gptq_v2": stored field = zero (GPTQModel's internal format)
};

struct GptqConfig {
  int bits = 4;
  int64_t group_size = 128;  // -1: one group over all inputs
  bool desc_act = false;     // act-order: columns quantized by decreasing Hessian diagonal (g_idx permuted)
  bool sym = true;
  bool static_groups = false;  // grids from the unmodified weight per natural group (AutoGPTQ option)
  double damp_percent = 0.05;  // GPTQModel's default (AutoGPTQ 0.01, transformers 0.1)
  CheckpointFormat checkpoint_format = CheckpointFormat::V1;

  int64_t maxq() const { return (int64_t{1} << bits) - 1; }
  // The group size for `in_features` inputs (-1 -> in_features).
  int64_t effective_group_size(int64_t in_features) const { return group_size == -1 ? in_features : group_size; }
  int64_t num_groups(int64_t in_features) const {
    int64_t gs = effective_group_size(in_features);
    return (in_features + gs - 1) / gs;
  }

  // A model's quantization_config (lenient: loader-only and unknown keys are ignored). Throws
  // std::invalid_argument naming the key for values we cannot read (bits 5, marlin layout, ...).
  static GptqConfig from_quantization_config(const std::string& json_text);
  // `oft quantize` options: the same keys, but unknown ones are errors.
  static GptqConfig from_options(const std::string& json_text);
  // config.json's "quantization_config" for layers quantized with these settings.
  std::string to_quantization_config() const;
};

// True when the JSON text names quant_method (or method) "gptq".
bool is_gptq_quantization_config(const std::string& json_text);

}  // namespace oft::gptq
