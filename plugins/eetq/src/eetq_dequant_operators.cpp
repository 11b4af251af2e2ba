#include "eetq_dequant_operators.h"

#include <ATen/ATen.h>

namespace oft::eetq {

at::Tensor dequantize_kn_by_operators(const at::Tensor& codes, const at::Tensor& scales) {
  return codes.to(at::kFloat).mul_(scales.to(at::kFloat)).to(scales.scalar_type());
}

}  // namespace oft::eetq
