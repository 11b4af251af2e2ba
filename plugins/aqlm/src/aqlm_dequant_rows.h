#pragma once
// W dequantized output group by output group in plain loops, from the codes as stored: the values of
// dequantize_float (aqlm_codes.h) bit for bit, without its LibTorch ops (an int64 copy of the codes, a lookup
// and an add per codebook, two roundings and a permuting copy, each a pass over memory).
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::aqlm {

// Raw views of a layer's weights, made on the caller's thread (the loops then touch only memory, so they may run
// on ATen's workers). The tensors they view must outlive them.
struct CodebookWeights {
  const void* codes;  // [N/og, K/ig, C], int8 or int16 as aqlm stores them, read mod 2^nbits
  bool wide_codes;    // int16
  uint32_t code_mask;
  const float* codebooks;  // [C, 2^nbits, og, ig] float32
  const float* scales;     // [N/og] float32
  c10::ScalarType dtype;   // the codebooks' checkpoint dtype: the roundings
  int64_t codebook_count, book_size, out_group, in_group, in_features;
};

// CPU tensors: stored_codes contiguous int8/int16; float_codebooks and float_scales contiguous float32 (scales of any
// shape with N/og values); throws std::invalid_argument naming what is not so.
CodebookWeights codebook_weights(const at::Tensor& stored_codes, int64_t nbits, const at::Tensor& float_codebooks,
                                 const at::Tensor& float_scales, c10::ScalarType dtype);

// Output groups [first_group, first_group + groups) of W into out (groups · og rows of K floats, contiguous).
void dequantize_groups_into(const CodebookWeights& w, int64_t first_group, int64_t groups, float* out);

}  // namespace oft::aqlm
