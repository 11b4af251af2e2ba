#pragma once
// AQLM's code storage and dequantization rule (aqlm.utils: pack_int_data, unpack_int_data,
// _dequantize_weight as it runs on CPU).
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::aqlm {

// The signed dtype aqlm stores B-bit codes in: int8 for B <= 8, int16 for B <= 16.
c10::ScalarType code_dtype(int64_t nbits);
// pack_int_data: codes in [0, 2^B) (any integer dtype) stored signed (codes >= 2^(B-1) become code - 2^B).
at::Tensor pack_codes(const at::Tensor& codes, int64_t nbits);
// unpack_int_data: stored codes -> int64 codes in [0, 2^B) (stored mod 2^B).
at::Tensor unpack_codes(const at::Tensor& stored, int64_t nbits);

// The unscaled reconstruction sum_c codebooks[c, codes[o, i, c]] in fp32, summed in codebook order:
// codes int64 [No, Ki, C], codebooks [C, Q, og, ig] (any float dtype) -> float [No, Ki, og, ig], on their device.
at::Tensor sum_codewords(const at::Tensor& codes, const at::Tensor& codebooks);

// Rounds a contiguous fp32 tensor in place to `dtype`'s values as aqlm's CPU embedding_bag does: fp16 to
// nearest even, bf16 with ties away from zero (what the CPU kernel does; checked on every CPU capability), fp32
// unchanged.
void round_like_embedding_bag(const at::Tensor& sum, c10::ScalarType dtype);

// W (N, K) in fp32 holding the `dtype` values of aqlm's _dequantize_weight on CPU: the codeword sum in
// fp32, rounded once to the codebooks' dtype, times the scale (one more rounding to that dtype), in LibTorch ops
// that follow aqlm's step by step. codes int64 [No, Ki, C]; codebooks [C, Q, og, ig]; scales [No, 1, 1, 1] (or
// [No]). The layer computes the same bits in plain loops (aqlm_dequant_rows.h); this is their reference.
at::Tensor dequantize_float(const at::Tensor& codes, const at::Tensor& codebooks, const at::Tensor& scales);

// (N, K) <-> [No, Ki, og, ig] views of a weight in groups.
at::Tensor to_groups(const at::Tensor& weight, int64_t out_group_size, int64_t in_group_size);
at::Tensor from_groups(const at::Tensor& groups);

}  // namespace oft::aqlm
