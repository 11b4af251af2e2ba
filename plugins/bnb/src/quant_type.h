#pragma once
// The two 4-bit code tables of bitsandbytes, by the names its checkpoints and configs use.
#include <string>

namespace oft::bnb {

enum class QuantType { NF4, FP4 };

inline std::string name_of(QuantType type) { return type == QuantType::NF4 ? "nf4" : "fp4"; }

// "nf4" / "fp4"; anything else is a std::invalid_argument naming `what`.
QuantType quant_type_named(const std::string& name, const std::string& what);

// bitsandbytes accepts these 4-bit blocksizes only (functional.quantize_4bit / dequantize_4bit).
bool is_valid_blocksize(long long blocksize);

}  // namespace oft::bnb
