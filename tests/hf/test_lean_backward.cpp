// models::rms_norm and models::gated_activation against the operators they replace, differentiated one by one:
// the same forward values, and the same gradients (bit for bit where the backward calls the same operators,
// within float32 rounding where it derives the gradient in another order).
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "oft/errors.h"
#include "oft/hf/gated_activation.h"
#include "oft/hf/rms_norm.h"

namespace oft::models::test {
namespace {

using torch::autograd::grad;

at::Tensor eager_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

// Relative tolerance of a gradient derived in another order: float32 rounding (the norm computes in float32 for
// every input dtype), or bf16's 8 bits where the gradient is rounded to bf16.
double tolerance(at::ScalarType dtype) { return dtype == at::kBFloat16 ? 1e-2 : 1e-5; }

void expect_close(const at::Tensor& ours, const at::Tensor& expected, double rtol, const std::string& what) {
  ASSERT_EQ(ours.scalar_type(), expected.scalar_type()) << what;
  const at::Tensor a = ours.to(at::kDouble), b = expected.to(at::kDouble);
  const double scale = b.abs().max().item<double>();
  const double error = (a - b).abs().max().item<double>();
  EXPECT_LE(error, rtol * scale) << what << ": max |difference| " << error << " for values up to " << scale;
}

TEST(RmsNorm, ForwardEqualsAndGradientsMatchTheOperatorsOneByOne) {
  at::manual_seed(0);
  struct Case {
    at::ScalarType x, weight;
    bool weight_trained;
  };
  for (const Case c : {Case{at::kFloat, at::kFloat, true}, Case{at::kDouble, at::kDouble, true},
                       Case{at::kBFloat16, at::kBFloat16, false}, Case{at::kBFloat16, at::kBFloat16, true},
                       Case{at::kBFloat16, at::kFloat, true}}) {
    SCOPED_TRACE(std::string("x ") + c10::toString(c.x) + ", weight " + c10::toString(c.weight) +
                 (c.weight_trained ? ", trained" : ", frozen"));
    const at::Tensor x = (3 * at::randn({2, 5, 48}, at::kDouble) + 1).to(c.x).requires_grad_();
    const at::Tensor weight = (1 + 0.1 * at::randn({48}, at::kDouble)).to(c.weight).requires_grad_(c.weight_trained);
    const at::Tensor dy = at::randn({2, 5, 48}, at::kDouble);
    const at::Tensor ours = rms_norm(x, weight, 1e-6);
    const at::Tensor expected = eager_rms_norm(x, weight, 1e-6);
    EXPECT_TRUE(at::equal(ours, expected));
    std::vector<at::Tensor> inputs = {x};
    if (c.weight_trained) inputs.push_back(weight);
    const auto ours_grads = grad({ours}, inputs, {dy.to(ours.scalar_type())});
    const auto expected_grads = grad({expected}, inputs, {dy.to(expected.scalar_type())});
    expect_close(ours_grads[0], expected_grads[0], tolerance(c.x), "dx");
    if (c.weight_trained) expect_close(ours_grads[1], expected_grads[1], tolerance(c.x), "dweight");
  }
}

TEST(RmsNorm, WithoutGradientsItIsTheForward) {
  const at::Tensor x = at::randn({4, 16});
  const at::Tensor weight = at::rand({16});
  EXPECT_TRUE(at::equal(rms_norm(x, weight, 1e-5), eager_rms_norm(x, weight, 1e-5)));
}

at::Tensor eager_activation(const std::string& name, const at::Tensor& x) {
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_pytorch_tanh") return at::gelu(x, "tanh");
  if (name == "relu") return at::relu(x);
  return at::silu(x);
}

TEST(GatedActivation, ValuesAndGradientsAreTheTwoOperatorsBitForBit) {
  at::manual_seed(1);
  for (const std::string name : {"silu", "gelu", "gelu_pytorch_tanh", "relu"})
    for (const auto dtype : {at::kFloat, at::kBFloat16, at::kDouble}) {
      SCOPED_TRACE(name + ", " + c10::toString(dtype));
      const at::Tensor gate = (2 * at::randn({3, 4, 40})).to(dtype).requires_grad_();
      const at::Tensor up = at::randn({3, 4, 40}).to(dtype).requires_grad_();
      const at::Tensor dy = at::randn({3, 4, 40}).to(dtype);
      const at::Tensor ours = gated_activation(name, gate, up);
      const at::Tensor expected = eager_activation(name, gate) * up;
      EXPECT_TRUE(at::equal(ours, expected));
      const auto ours_grads = grad({ours}, {gate, up}, {dy});
      const auto expected_grads = grad({expected}, {gate, up}, {dy});
      EXPECT_TRUE(at::equal(ours_grads[0], expected_grads[0])) << "d gate";
      EXPECT_TRUE(at::equal(ours_grads[1], expected_grads[1])) << "d up";
    }
}

TEST(GatedActivation, OnlyTheInputsThatNeedAGradientGetOne) {
  const at::Tensor gate = at::randn({2, 8}).requires_grad_();
  const at::Tensor up = at::randn({2, 8});
  const at::Tensor ours = gated_activation("silu", gate, up);
  const at::Tensor expected = at::silu(gate) * up;
  EXPECT_TRUE(at::equal(grad({ours.sum()}, {gate})[0], grad({expected.sum()}, {gate})[0]));
}

TEST(GatedActivation, UnknownActivationIsNamed) {
  try {
    gated_activation("swiglu_v9", at::zeros({2}), at::zeros({2}));
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'swiglu_v9'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace oft::models::test
