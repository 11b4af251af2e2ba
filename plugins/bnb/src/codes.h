#pragma once
// bitsandbytes' code tables: the 16 NF4 / FP4 values (functional.get_4bit_type) and the 256-entry signed
// "dynamic" map that nested (double) quantization uses for the absmax (functional.create_dynamic_map()).
#include <array>

#include <ATen/core/Tensor.h>

#include "quant_type.h"

namespace oft::bnb {

// value[code] for a 4-bit code, as bitsandbytes' dequantization kernels decode it (float32).
const std::array<float, 16>& code_table(QuantType type);
// The table as bitsandbytes serializes it ("weight.quant_map"): the same values, but FP4's code 8 is +0.0.
at::Tensor quant_map(QuantType type);

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): sorted float32 [256].
at::Tensor dynamic_map();

}  // namespace oft::bnb
