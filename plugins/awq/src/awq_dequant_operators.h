#pragma once
// AWQ's dequantization in LibTorch operators, computed on the tensors' device (the path for layers off the CPU;
// no data_ptr loops, no host syncs): W = (code - zero) * scale in fp32, rounded once to the scales dtype. The same
// bits as the CPU kernels (awq_dequant_cpu.h) on CPU tensors: the difference of two small integers is exact in
// fp32, the product one rounding, then the one rounding to the scales dtype, step for step as they do.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "awq_config.h"

namespace oft::awq {

// The packed codes as int32 (rows, columns): gemm packing (AWQ's interleave at 4 bits, the bit stream at 2, 3 and
// 8; int32 (rows, gemm_words(columns, bits))), or the gemv layout's sequential nibbles (int32 (rows, words) ->
// (rows, 8 * words), `columns` = 8 * words).
at::Tensor decode_codes_by_operators(const at::Tensor& packed, int bits, int64_t columns, Layout layout);

// W (out, in) in the scales dtype, on the tensors' device, from the layer's checkpoint tensors (awq_linear.h). For
// the gemm layout a transposed view of W^T (in, out), which a matmul reads without a copy.
at::Tensor dequantize_by_operators(const at::Tensor& qweight, const at::Tensor& qzeros, const at::Tensor& scales,
                                   const AwqConfig& config, int64_t in_features, int64_t out_features);

}  // namespace oft::awq
