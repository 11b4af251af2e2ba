#pragma once
// bitsandbytes' code tables: the 16 NF4 / FP4 values (functional.get_4bit_type) and the 256-entry signed
// "dynamic" map that nested (double) quantization uses for the absmax (functional.create_dynamic_map()).
#include <array>

#include <ATen/core/Tensor.h>

#include "quant_type.h"

namespace oft::bnb {

// value[code] for a 4-bit code (fp32, exactly bitsandbytes' values).
const std::array<float, 16>& code_table(QuantType type);
at::Tensor code_tensor(QuantType type);  // the same as a float32 tensor [16]

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): sorted float32 [256].
at::Tensor dynamic_map();

}  // namespace oft::bnb
