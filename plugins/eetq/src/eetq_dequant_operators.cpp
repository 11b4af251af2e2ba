#include "eetq_dequant_operators.h"

#include <ATen/ATen.h>

namespace oft::eetq {

at::Tensor dequantize_kn_by_operators(const at::Tensor& codes, const at::Tensor& scales) {
  // One pass: the int8 codes convert exactly to the scales dtype, and LibTorch multiplies 16-bit floats in fp32 and
  // rounds once.
  return codes.mul(scales);
}

}  // namespace oft::eetq
