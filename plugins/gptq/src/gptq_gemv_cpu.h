#pragma once
// y = x · Wᵀ for one token (decoding) straight from GPTQ's packed words, on x86 CPUs with AVX2, F16C and FMA: each
// weight is decoded and rounded to the scales dtype in registers exactly as the dequantization does
// (gptq_dequant_cpu.h), then multiplied with x and added into the outputs' sums, 64 outputs at a time (up to 256 in
// sixteen lanes where the CPU has AVX-512F: the same bits). Nothing is
// written for W: the tiled forward writes each tile of W^T (4 bytes per weight) and its GEMV reads it back, which
// at one token costs more than the decoding. The outputs differ from the tiled forward's only in summation order.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::gptq {

// Outputs per pass: eight registers of eight sums.
constexpr int64_t kGemvColumns = 64;

// Whether gemv_cpu applies: one token, 2, 3, 4 or 8 bits (a 3-bit field that straddles two words is joined from
// both), out_features a multiple of kGemvColumns, scales of fp32, fp16 or bf16, and a CPU with AVX2, F16C and FMA.
bool gemv_applies(int64_t tokens, int bits, int64_t out_features, c10::ScalarType round_to);

// x float (in) contiguous; qweight int32 (in*bits/32, out); zeros, scales float32 (groups, out); g_idx int32
// (in), checked (check_group_indices); all contiguous on the CPU. Returns y float (out) = Σ_k x[k] · W^T[k, n]
// with W^T's values those of dequantize_cpu(..., round_to), summed in input order by fused multiply-adds; gemv_applies
// must hold.
at::Tensor gemv_cpu(const at::Tensor& x, const at::Tensor& qweight, const at::Tensor& zeros, const at::Tensor& scales,
                    const at::Tensor& g_idx, int bits, c10::ScalarType round_to,
                    sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft::gptq
