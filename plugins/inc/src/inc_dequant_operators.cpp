#include "inc_dequant_operators.h"

#include <ATen/ATen.h>

namespace oft::inc {

at::Tensor dequantize_weight_by_operators(const at::Tensor& codes, const at::Tensor& scale) {
  // A per-channel scale (out) broadcasts along the rows of the transposed codes (in, out).
  return (codes.to(at::kFloat) * scale.to(at::kFloat)).to(scale.scalar_type());
}

}  // namespace oft::inc
