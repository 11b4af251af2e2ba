#pragma once
// AWQ settings as config.json's "quantization_config" writes them (transformers 5.24's
// AwqConfig.to_dict(), GPTQModel's AWQ export, AutoAWQ's older names). Torch-free.
#include <cstdint>
#include <string>

namespace oft::awq {

// The checkpoint layout ("format", older "version").
enum class Layout {
  Gemm,  // qweight (in, ceil(out*bits/32)): codes packed along the output dimension
  Gemv,  // qweight (out, in/8): 4-bit codes packed along the input dimension
};

struct AwqConfig {
  int bits = 4;
  int64_t group_size = 128;  // -1: one group over all inputs
  // true: asymmetric min/max grid with a per-group zero point; false: symmetric absmax grid whose
  // stored zero point is 2^(bits-1). transformers' "sym" key is ignored: it is written as true whatever
  // zero_point says.
  bool zero_point = true;
  Layout layout = Layout::Gemm;
  // `oft quantize` only (never in a quantization_config): search AWQ's per-channel input scale with
  // calibration data (awq_scale_search.h); false: the clipping search alone.
  bool scale_search = true;

  int64_t effective_group_size(int64_t in_features) const { return group_size == -1 ? in_features : group_size; }
  int64_t num_groups(int64_t in_features) const { return in_features / effective_group_size(in_features); }

  // A model's quantization_config (lenient: loader-only and unknown keys are ignored). Throws
  // std::invalid_argument naming the key for values we cannot read (bits 5, marlin layout, ...).
  static AwqConfig from_quantization_config(const std::string& json_text);
  // `oft quantize` options: the same keys, but unknown ones are errors.
  static AwqConfig from_options(const std::string& json_text);
  // config.json's "quantization_config" as transformers' AwqConfig(bits, group_size, zero_point,
  // version).to_dict() writes it.
  std::string to_quantization_config() const;
};

// True when the JSON text names quant_method (or method) "awq".
bool is_awq_quantization_config(const std::string& json_text);

}  // namespace oft::awq
