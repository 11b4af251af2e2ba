#include "inc_dequant_operators.h"

#include <ATen/ATen.h>

namespace oft::inc {

at::Tensor dequantize_weight_by_operators(const at::Tensor& codes, const at::Tensor& scale) {
  // A per-channel scale (out) broadcasts along the rows of the transposed codes (in, out). Every FP8 value converts
  // exactly to bf16, fp16 and fp32 (LibTorch does not promote FP8 with other dtypes), and LibTorch multiplies 16-bit
  // floats in fp32 and rounds once: two passes, the same bits as converting both to fp32.
  return codes.to(scale.scalar_type()).mul_(scale);
}

}  // namespace oft::inc
