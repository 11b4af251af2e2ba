#pragma once
// Whole bytes of NF4/FP4 codes to their weights eight at a time on x86 CPUs with AVX2 and F16C: the block's 16
// weights are given, and each output lane picks its code's by a lane permutation (sdk::code_values_in_8_lanes)
// instead of a table load, a multiply and a conversion per weight; the same values as the scalar loop.
#include <cstdint>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace oft::bnb {

// Whether decode_4bit_in_8_lanes runs on this CPU.
bool decode_4bit_in_8_lanes_available();

// out[0, 2 · bytes) = weights[code] for the two codes of each of `bytes` packed bytes (the first in the high
// nibble), bytes a multiple of 8; weights: the 16 weights of the block, each a value of T. T: float, c10::Half or
// c10::BFloat16. decode_4bit_in_8_lanes_available() must hold.
template <typename T>
void decode_4bit_in_8_lanes(const uint8_t* packed, int64_t bytes, const float (&weights)[16], T* out);

}  // namespace oft::bnb
