#pragma once
// AQLM's dequantization in LibTorch operators, computed on the tensors' device: the layer's path off the CPU, where
// the CPU kernels (aqlm_dequant_rows.h, aqlm_codeword_product.h) do not run. The same steps as those kernels, in the
// same order: codes read mod 2^B, the codewords looked up and summed in fp32 codebook by codebook from 0 (one
// lookup and one add per codebook, not a reduction, whose order LibTorch leaves open), the sum rounded once to
// the codebooks' dtype as aqlm's CPU embedding_bag rounds it (bf16 ties away from zero, by integer operations; fp16
// to nearest even), times the scale in fp32 (exact for two values of that dtype), rounded once more. Every step is
// exact or one IEEE rounding, so on CPU tensors these are the CPU kernels' bits, and on a GPU too.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::aqlm {

// W (N, K) in the codebooks' dtype, on the tensors' device. stored_codes [N/og, K/ig, C] int8/int16 as aqlm stores
// them; codebooks [C, 2^nbits, og, ig] fp16, bf16 or fp32; scales with N/og values, of any float dtype.
at::Tensor dequantize_by_operators(const at::Tensor& stored_codes, int64_t nbits, const at::Tensor& codebooks,
                                   const at::Tensor& scales);

}  // namespace oft::aqlm
