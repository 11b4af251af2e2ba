#pragma once
// HQQ's quantization settings: the weight_quant_params of hqq's BaseQuantizeConfig, as transformers'
// HqqConfig writes them into config.json's quantization_config, and as `oft quantize --options` takes
// them (HqqConfig's keyword arguments: nbits, group_size, axis, view_as_float).
#include <cstdint>
#include <string>

namespace oft::hqq {

// hqq's Quantizer.SUPPORTED_BITS: 8, 6, 5, 4, 3, 2, 1.58, 1.
bool is_supported_nbits(double nbits);
// The packing hqq uses for nbits ("4bit_u8", "3bit_32", ...; 1.58 is stored 2-bit, 5 and 6 as bytes).
std::string packing_for_nbits(double nbits);
// The largest code: Python's round(2**nbits - 1) (2 for 1.58).
int64_t max_code(double nbits);

struct HqqSettings {
  double nbits = 4;
  int64_t group_size = 64;
  int axis = 1;
  bool view_as_float = false;
  bool channel_wise = true;
  bool optimize = true;
  bool round_zero = true;  // hqq sets it for 4-bit only

  // HqqConfig keyword arguments as JSON ("" or "{}": the defaults); unknown keys and bad values throw
  // std::invalid_argument naming the option.
  static HqqSettings from_options(const std::string& options_json);
  // config.json's quantization_config (quant_method "hqq"); a dynamic config (one per module tag) must
  // use one setting for all tags.
  static HqqSettings from_quantization_config(const std::string& quantization_config_json);
  // transformers' HqqConfig(...).to_dict().
  std::string to_quantization_config() const;
  // Checks nbits, group_size (a positive multiple of 8) and axis.
  void validate() const;
};

bool is_hqq_quantization_config(const std::string& quantization_config_json);

}  // namespace oft::hqq
