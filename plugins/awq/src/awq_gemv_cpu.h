#pragma once
// y = x · Wᵀ for one token (decoding) straight from AWQ's 4-bit packed words (both layouts), on x86 CPUs with AVX2,
// F16C and FMA: each weight is decoded and rounded to the scales dtype in registers exactly as the dequantization does
// (awq_dequant_cpu.h), then multiplied with x and added into the outputs' sums, 64 outputs (eight words) at a
// time (gemm layout: up to 256 in sixteen lanes where the CPU has AVX-512F, the same bits). Nothing is written for W:
// the tiled forward writes each tile of W^T (4 bytes per weight) and its GEMV reads it back, which at one token costs
// more than the decoding. The outputs differ from the tiled forward's only in summation order.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::awq {

// Outputs per pass: eight registers of eight sums.
constexpr int64_t kGemvColumns = 64;

// Whether gemv_gemm4_cpu applies: one token, 4 bits, out_features a multiple of kGemvColumns, scales of fp32, fp16
// or bf16, and a CPU with AVX2, F16C and FMA.
bool gemv_applies(int64_t tokens, int bits, int64_t out_features, c10::ScalarType round_to);

// x float (in) contiguous; qweight int32 (in, out/8) in the gemm layout; zeros, scales float32 (groups, out); all
// contiguous on the CPU. Returns y float (out) = Σ_k x[k] · W^T[k, n] with W^T's values those of
// dequantize_gemm_cpu(..., round_to), summed in input order by fused multiply-adds; gemv_applies must hold.
at::Tensor gemv_gemm4_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros,
                          const at::Tensor& scales, int64_t group_size, c10::ScalarType round_to,
                          sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

// The same for the 4-bit gemv layout (nibble i of word c of row n is W[n, 8c + i]): each output is a dot product
// along its packed row, kGemvLayoutRows rows side by side so that they share x's loads.
constexpr int64_t kGemvLayoutRows = 4;

// Whether gemv_sequential4_cpu applies: one token, out_features a multiple of kGemvLayoutRows, groups of whole words
// (a group size that is a multiple of 8), scales of fp32, fp16 or bf16, and a CPU with AVX2, F16C and FMA.
bool gemv_layout_applies(int64_t tokens, int64_t out_features, int64_t group_size, c10::ScalarType round_to);

// x float (in) contiguous; qweight int32 (out, in/8) in the gemv layout; zeros, scales float32 (out, groups); all
// contiguous on the CPU. Returns y float (out) = Σ_k W[n, k] · x[k] with W's values those of
// dequantize_gemv_cpu(..., round_to), summed by fused multiply-adds; gemv_layout_applies must hold.
at::Tensor gemv_sequential4_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros,
                                const at::Tensor& scales, int64_t group_size, c10::ScalarType round_to);

}  // namespace oft::awq
