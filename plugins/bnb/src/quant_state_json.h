#pragma once
// The JSON that bitsandbytes packs into the uint8 tensor "weight.quant_state.bitsandbytes__<type>": the
// non-tensor fields of a 4-bit QuantState. Written exactly as Python's json.dumps does, so saved files match.
#include <cstdint>
#include <string>
#include <vector>

namespace oft::bnb {

struct QuantStateInfo {
  std::string quant_type;  // "nf4" | "fp4"
  int64_t blocksize = 64;
  std::string dtype;           // the source weight's dtype: "float32" | "float16" | "bfloat16"
  std::vector<int64_t> shape;  // [out_features, in_features]
  bool nested = false;         // the fields below are present only when nested
  int64_t nested_blocksize = 256;
  std::string nested_dtype = "float32";
  double nested_offset = 0.0;
};

std::string encode_quant_state(const QuantStateInfo& info);
// Errors (std::invalid_argument) name `tensor_name` and the field.
QuantStateInfo decode_quant_state(const std::string& text, const std::string& tensor_name);

// Python's repr() of a float (shortest round-trip digits, Python's choice of fixed or exponent form).
std::string python_float_repr(double value);

}  // namespace oft::bnb
