#pragma once
// INC's FP8 QDQ arithmetic on CPU (neural_compressor 3.10, fp8_quant/_core: scale_methods and the CPU
// quantized-function wrappers over torchao's _quantize/_dequantize_affine_float8), in LibTorch ops so that
// every rounding step happens in the same dtype as INC's:
//   scale    s = maxabs / (fullscale * backoff) in the hp dtype, optionally 2^ceil(log2 s); backoff 0.5
//            for weights, 0.25 for inputs; fullscale = the FP8 type's largest value (448 or 57344)
//   weight   fp8(clamp(W_fp32 * fp32(hp(1/s)), +-fullscale))  stored transposed, (in, out)
//   dequant  hp(fp32(fp8) * s)
//   input    hp(fp32(fp8(clamp(x_fp32 / s_in, +-fullscale))) * s_in), s_in = hp(1 / hp(1 / s))
// The float -> FP8 cast is LibTorch's: E4M3 saturates at +-448 after the clamp, E5M2 cannot overflow.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::inc {

inline constexpr double kWeightBackoff = 0.5;
inline constexpr double kInputBackoff = 0.25;

// The largest finite value of float8_e4m3fn (448) or float8_e5m2 (57344).
double fp8_max(c10::ScalarType fp8);

// INC's MaxAbs scale from max|.| values already in the hp dtype.
at::Tensor maxabs_scale(const at::Tensor& maxabs, c10::ScalarType fp8, double backoff, bool pow2);
// The weight scale of W (out, in): 0-d, or per output channel (out) with INC's floor at bf16's tiny.
at::Tensor weight_scale(const at::Tensor& weight, c10::ScalarType fp8, c10::ScalarType hp, bool per_channel, bool pow2);
// The input scale from calibration inputs (..., in): the observer's max|x| in the hp dtype, then
// maxabs_scale with the input backoff. Returns s; INC stores scale_inv = 1/s and scale = 1/scale_inv.
at::Tensor input_scale(const at::Tensor& calibration, c10::ScalarType fp8, c10::ScalarType hp, bool pow2);

// FP8 codes (in, out) of W (out, in) for scale s (0-d or (out)).
at::Tensor quantize_weight(const at::Tensor& weight, const at::Tensor& scale, c10::ScalarType fp8);
// The dequantized weight (in, out) in the scale's dtype.
at::Tensor dequantize_weight(const at::Tensor& codes, const at::Tensor& scale);
// Its values as float (what the forward multiplies with).
at::Tensor dequantize_weight_float(const at::Tensor& codes, const at::Tensor& scale);
// The same into `out` (float, codes' shape): codes (in, n) with contiguous rows, e.g. a slice of columns, and
// the scale 0-d or (n).
void dequantize_weight_into(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& out);
// One token (decoding): x (in) float times the dequantized weight, y (out) float = Σ_k x[k] · W^T[k, n] with W^T's
// values those of dequantize_weight_float, summed in input order by fused multiply-adds, straight from the codes
// (inc_fp8_rows.h) without writing W. Applies where one_token_product_applies: one token, out a multiple of
// kGemvColumns, a CPU with AVX2, F16C and FMA, codes with contiguous rows, scales of at most kFp8GemvMaxScale.
bool one_token_product_applies(int64_t tokens, const at::Tensor& codes, const at::Tensor& scale);
at::Tensor one_token_product(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scale,
                             sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);
// x quantized to FP8 with the 0-d input scale and dequantized into `out` (the hp dtype). The gradient is
// INC's on CPU: it passes straight through the rounding but is itself rounded to the FP8 dtype on the way
// (autograd's backward of the FP8 -> fp32 cast), and is zero where the clamp saturates.
at::Tensor quant_dequant_input(const at::Tensor& x, const at::Tensor& scale, c10::ScalarType fp8, c10::ScalarType out);

}  // namespace oft::inc
