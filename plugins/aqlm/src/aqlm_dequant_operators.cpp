#include "aqlm_dequant_operators.h"

#include <ATen/ATen.h>

#include "aqlm_codes.h"

namespace oft::aqlm {

at::Tensor dequantize_by_operators(const at::Tensor& stored_codes, int64_t nbits, const at::Tensor& codebooks,
                                   const at::Tensor& scales) {
  const c10::ScalarType dtype = codebooks.scalar_type();
  at::Tensor sum = sum_codewords(unpack_codes(stored_codes, nbits), codebooks);
  if (dtype == at::kBFloat16)
    round_like_embedding_bag(sum, dtype);  // integer operations on the sum's bits, on any device
  else
    sum = sum.to(dtype).to(at::kFloat);
  return from_groups(sum.mul_(scales.to(at::kFloat).reshape({-1, 1, 1, 1})).to(dtype));
}

}  // namespace oft::aqlm
