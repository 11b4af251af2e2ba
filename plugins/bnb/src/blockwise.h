#pragma once
// 4-bit blockwise quantization as bitsandbytes does it, and the nested (double) quantization of the
// per-block absmax. The weight is flattened row-major; block j covers elements [j*bs, (j+1)*bs) (the last
// block may be partial and has its own absmax); codes 2i and 2i+1 share byte i (2i in the high nibble).
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "dequant_math.h"
#include "quant_type.h"

namespace oft::bnb {

struct Packed4bit {
  at::Tensor packed;  // uint8 [ceil(n / 2), 1]
  at::Tensor absmax;  // float32 [ceil(n / blocksize)]
};

// bnb's quantize_4bit: scale each block by its absmax, pick the nearest table value (ties to the lower
// value), pack; computed on the CPU, results on the CPU. Throws std::invalid_argument for a non-finite weight or a
// blocksize bnb does not accept.
Packed4bit quantize_4bit(const at::Tensor& weight, QuantType type, int64_t blocksize);

// table[code] * absmax[block] in float32, then cast once to `dtype`; shape (out, in). On the tensors' device
// (CPU or CUDA, the same values).
at::Tensor dequantize_4bit(const at::Tensor& packed, const at::Tensor& absmax, QuantType type, int64_t blocksize,
                           int64_t out_features, int64_t in_features, c10::ScalarType dtype);

// Rows [first_row, first_row + tile.size(0)) of that weight into `tile` (rows, in_features), contiguous, of
// float32/float16/bfloat16: the values dequantize_4bit gives. CPU tensors; absmax float32.
void dequantize_4bit_rows(const at::Tensor& packed, const at::Tensor& absmax, QuantType type, int64_t blocksize,
                          int64_t in_features, int64_t first_row, const at::Tensor& tile);

// Nested absmax: offset = mean(absmax); (absmax - offset) quantized blockwise (256) with the dynamic map.
struct NestedAbsmax {
  at::Tensor codes;          // uint8 [nblocks]
  at::Tensor nested_absmax;  // float32 [ceil(nblocks / 256)]
  at::Tensor quant_map;      // float32 [256], the dynamic map
  float offset = 0.0f;
};
constexpr int64_t kNestedBlocksize = math::kNestedBlocksize;

NestedAbsmax quantize_absmax(const at::Tensor& absmax);
at::Tensor dequantize_absmax(const at::Tensor& codes, const at::Tensor& nested_absmax, const at::Tensor& quant_map,
                             float offset);

}  // namespace oft::bnb
