#pragma once
// y = x · Wᵀ for one token (decoding) straight from the int8 codes, on x86 CPUs with AVX2, F16C and FMA: each weight is
// converted, scaled and rounded to the scales dtype in registers exactly as the dequantization does
// (eetq_quantizer.h), then multiplied with x and added into the outputs' sums, 64 outputs (one cache line of a
// row of codes) at a time in eight lanes, or where the CPU has AVX-512F up to 256 (four cache lines) in sixteen lanes
// (the same bits). Nothing is written
// for W: the tiled forward writes each tile of W^T (4 bytes per weight) and its GEMV reads it back, which at one token
// costs more than the conversion. The outputs differ from the tiled forward's only in summation order.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::eetq {

// Outputs per pass of the eight-lane product: eight registers of eight sums (the sixteen-lane one takes 64 to 256,
// sdk::wide_pass_columns).
constexpr int64_t kGemvColumns = 64;

// Whether gemv_cpu applies: one token, out_features a multiple of kGemvColumns, scales of fp32, fp16 or bf16, and
// a CPU with AVX2, F16C and FMA.
bool gemv_applies(int64_t tokens, int64_t out_features, c10::ScalarType scales_dtype);

// x float (in) contiguous; codes int8 (in, out) contiguous; scales (out) in their dtype. Returns y float (out) =
// Σ_k x[k] · W^T[k, n] with W^T's values those of dequantize_float_kn, summed in input order by fused multiply-adds;
// gemv_applies must hold.
at::Tensor gemv_cpu(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scales,
                    sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft::eetq
