// The dense weight of a training step over bitsandbytes 8-bit (int8_training_weight.h) against MatMul8bitFp's own
// formula in ATen, CB.to(dtype).mul_(SCB.unsqueeze(1).mul(1.0 / 127.0)): the same bits in fp32, fp16 and bf16, on
// the eight-lane path and the portable one, for rows whose length is not a multiple of eight, scales that round
// and codes at both ends of int8; bad operands.
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "int8_training_weight.h"

namespace oft::bnb::test {
namespace {

at::Tensor matmul8bitfp_weight(const at::Tensor& cb, const at::Tensor& scb, c10::ScalarType dtype) {
  return cb.to(dtype).mul_(scb.unsqueeze(1).mul(1.0 / 127.0));
}

TEST(BnbInt8TrainingWeight, EqualsMatMul8bitFpsWeightOnEveryPath) {
  at::manual_seed(52);
  at::Tensor cb = at::randint(-127, 128, {19, 301}).to(at::kChar);  // 301: 37 groups of 8, then 5
  cb.index_put_({0, 0}, -128);
  cb.index_put_({0, 1}, 127);
  // Row statistics over several binades, some large enough that fp16 overflows at the largest codes.
  const at::Tensor scb = at::rand({19}).mul_(at::pow(10.0, at::randint(-3, 6, {19}).to(at::kFloat)));
  for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16})
    for (const auto path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
      const at::Tensor out = at::empty(cb.sizes(), at::TensorOptions().dtype(dtype));
      dequantize_int8_for_training_into(cb, scb, out, path);
      const at::Tensor expected = matmul8bitfp_weight(cb, scb, dtype);
      EXPECT_TRUE(at::equal(out.isnan(), expected.isnan()) && at::equal(out.nan_to_num(0), expected.nan_to_num(0)))
          << c10::toString(dtype) << (path == sdk::RoundingPath::kFastest ? ", eight lanes" : ", portable")
          << ": largest difference " << (out.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<float>();
    }
}

TEST(BnbInt8TrainingWeight, RefusesOperandsItCannotRead) {
  const at::Tensor cb = at::zeros({4, 32}, at::kChar), scb = at::ones({4});
  EXPECT_THROW(dequantize_int8_for_training_into(cb.to(at::kFloat), scb, at::empty({4, 32})), std::invalid_argument);
  EXPECT_THROW(dequantize_int8_for_training_into(cb, at::ones({3}), at::empty({4, 32})), std::invalid_argument);
  EXPECT_THROW(dequantize_int8_for_training_into(cb, scb, at::empty({4, 31})), std::invalid_argument);
}

}  // namespace
}  // namespace oft::bnb::test
