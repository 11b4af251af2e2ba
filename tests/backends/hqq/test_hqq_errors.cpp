// Bad checkpoint tensors and inputs: each error is std::invalid_argument naming the tensor and what was
// expected. Starts from a valid golden state and breaks one thing at a time.
#include <functional>

#include "hqq_format.h"
#include "hqq_test_data.h"

namespace oft::hqq::test {
namespace {

std::string load_error(const std::function<void(sdk::TensorMap&)>& breakage, sdk::LinearShape shape = golden_shape()) {
  sdk::TensorMap state = layer_cases().front().state();  // 4-bit, group 64, axis 1, fp16
  breakage(state);
  try {
    HqqFormat().load(state, shape, "");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

void expect_error(const std::string& message, const std::vector<std::string>& parts) {
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

TEST(HqqErrors, BadTensorsAreNamed) {
  expect_error(load_error([](auto& s) { s.erase("W_q"); }), {"\"W_q\"", "missing"});
  expect_error(load_error([](auto& s) { s.erase("zero"); }), {"\"zero\"", "missing"});
  expect_error(load_error([](auto& s) { s["W_q"] = s["W_q"].to(at::kInt); }), {"\"W_q\"", "Int", "Byte"});
  expect_error(load_error([](auto& s) { s["W_q"] = s["W_q"].slice(0, 1); }), {"\"W_q\"", "(7, 64)", "(8, 64)"});
  expect_error(load_error([](auto& s) { s["scale"] = s["scale"].reshape({1, 16}); }), {"\"scale\"", "(16, 1)"});
  expect_error(load_error([](auto& s) { s["zero"] = s["zero"].to(at::kInt); }), {"\"zero\"", "floating"});
  expect_error(load_error([](auto& s) { s["nbits"] = at::scalar_tensor(7, at::kInt); }), {"\"nbits\"", "1.58"});
  expect_error(load_error([](auto& s) { s["axis"] = at::scalar_tensor(2, at::kInt); }), {"\"axis\"", "0 or 1"});
  expect_error(load_error([](auto& s) { s["group_size"] = at::scalar_tensor(12, at::kInt); }),
               {"\"group_size\"", "multiple of 8"});
  expect_error(load_error([](auto& s) { s["group_size"] = at::scalar_tensor(48, at::kInt); }),
               {"\"group_size\"", "does not divide"});
  expect_error(load_error([](auto& s) { s["packing"] = s["packing"].flip(0); }), {"\"packing\"", "8u_tib4"});
  expect_error(load_error([](auto& s) { s["nbits"] = at::scalar_tensor(2, at::kInt); }), {"\"packing\"", "2bit_u8"});
  expect_error(load_error([](auto& s) { s["compute_dtype"] = s["packing"]; }), {"\"compute_dtype\"", "4bit_u8"});
  expect_error(load_error([](auto& s) {
                 s["shape"] = at::tensor(std::vector<int64_t>{64, 16});
               }),
               {"\"shape\"", "(64, 16)", "(16, 64)"});
  expect_error(load_error([](auto& s) { s["quant_zero"] = at::scalar_tensor(1, at::kByte); }), {"quant_zero"});
  expect_error(load_error([](auto& s) { s["offload_meta"] = at::scalar_tensor(1, at::kByte); }), {"offload_meta"});
  expect_error(load_error([](auto& s) { s["view_as_float"] = at::scalar_tensor(1, at::kByte); }),
               {"\"W_q\"", "floating view"});
  expect_error(load_error([](auto& s) { s.erase("bias"); }), {"\"bias\"", "missing"});
  expect_error(load_error([](auto&) {}, {64, 16, false}), {"\"bias\"", "no bias"});
  expect_error(load_error([](auto& s) { s["bias"] = s["bias"].slice(0, 1); }), {"\"bias\"", "(15)", "(16)"});
}

TEST(HqqErrors, TensorsOnAnotherDeviceThanWqAreRefused) {
  // The layer computes where W_q is (on any device); scale, zero and bias must be there too.
  expect_error(load_error([](auto& s) {
                 s["scale"] = at::empty({16, 1}, at::TensorOptions().device(at::kMeta));
               }),
               {"\"scale\"", "is on meta", "\"W_q\" on cpu"});
  expect_error(load_error([](auto& s) { s["bias"] = s["bias"].to(at::kMeta); }), {"\"bias\"", "is on meta"});
}

TEST(HqqErrors, BadInputsAndWeights) {
  auto layer = HqqFormat().load(layer_cases().front().state(), golden_shape(), "");
  EXPECT_THROW(layer->forward(at::randn({2, 63})), std::invalid_argument);
  EXPECT_THROW(layer->set_dense_weight(at::randn({16, 63})), std::invalid_argument);
  EXPECT_THROW(HqqFormat().quantize(at::randn({16, 64}).to(at::kInt), at::Tensor(), "", at::Tensor()),
               std::invalid_argument);
  EXPECT_THROW(HqqFormat().quantize(at::randn({16, 64}), at::randn({15}), "", at::Tensor()), std::invalid_argument);
}

}  // namespace
}  // namespace oft::hqq::test
