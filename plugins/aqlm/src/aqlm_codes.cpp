#include "aqlm_codes.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::aqlm {

c10::ScalarType code_dtype(int64_t nbits) {
  if (nbits >= 1 && nbits <= 8) return at::kChar;
  if (nbits >= 9 && nbits <= 16) return at::kShort;
  throw std::invalid_argument("aqlm: nbits_per_codebook must be 1..16, got " + std::to_string(nbits));
}

at::Tensor pack_codes(const at::Tensor& codes, int64_t nbits) {
  at::Tensor wide = codes.to(at::kLong);
  const int64_t size = int64_t{1} << nbits;
  wide = at::where(wide >= size / 2, wide - size, wide);
  return wide.to(code_dtype(nbits));
}

at::Tensor unpack_codes(const at::Tensor& stored, int64_t nbits) {
  return at::remainder(stored.to(at::kLong), int64_t{1} << nbits);  // remainder takes the divisor's sign
}

at::Tensor sum_codewords(const at::Tensor& codes, const at::Tensor& codebooks) {
  const int64_t no = codes.size(0), ki = codes.size(1), c = codes.size(2);
  const int64_t og = codebooks.size(2), ig = codebooks.size(3);
  at::Tensor flat = codebooks.to(at::kFloat).reshape({c, codebooks.size(1), og * ig});
  at::Tensor sum = at::zeros({no * ki, og * ig}, flat.options());
  // Indexing rather than index_select, which has no meta kernel in LibTorch (the device tests stand in with meta).
  for (int64_t k = 0; k < c; ++k) sum.add_(flat[k].index({codes.select(2, k).reshape(-1)}));
  return sum.view({no, ki, og, ig});
}

void round_like_embedding_bag(const at::Tensor& sum, c10::ScalarType dtype) {
  if (dtype == at::kBFloat16) {
    // Add half a bf16 ulp to the magnitude's bit pattern, then drop the low 16 bits.
    sum.view(at::kInt).add_(0x8000).bitwise_and_(~int32_t{0xFFFF});
    return;
  }
  if (dtype != at::kFloat && dtype != at::kHalf)
    throw std::invalid_argument(std::string("aqlm: tensor \"codebooks\" has dtype ") + c10::toString(dtype) +
                                ", expected float16, bfloat16 or float32");
  sdk::round_tensor_in_place(sum, dtype);
}

at::Tensor dequantize_float(const at::Tensor& codes, const at::Tensor& codebooks, const at::Tensor& scales) {
  const c10::ScalarType dtype = codebooks.scalar_type();
  at::Tensor sum = sum_codewords(codes, codebooks);
  round_like_embedding_bag(sum, dtype);
  // The product of two values of dtype is exact in fp32, so this rounds once, like aqlm's multiply.
  at::Tensor scaled = sum.mul_(scales.to(at::kFloat).reshape({-1, 1, 1, 1}));
  sdk::round_tensor_in_place(scaled, dtype);
  return from_groups(scaled);
}

at::Tensor to_groups(const at::Tensor& weight, int64_t out_group_size, int64_t in_group_size) {
  const int64_t n = weight.size(0), k = weight.size(1);
  return weight.reshape({n / out_group_size, out_group_size, k / in_group_size, in_group_size})
      .permute({0, 2, 1, 3})
      .contiguous();
}

at::Tensor from_groups(const at::Tensor& groups) {
  const int64_t no = groups.size(0), ki = groups.size(1), og = groups.size(2), ig = groups.size(3);
  return groups.permute({0, 2, 1, 3}).reshape({no * og, ki * ig});
}

}  // namespace oft::aqlm
