// sdk::linear_recomputing_weight: at::linear's outputs and gradients, W dequantized again in the backward instead
// of kept, and the layer kept alive for it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/nn/module.h>

#include "oft/sdk/recomputed_weight_linear.h"

namespace oft::sdk {
namespace {

// A frozen weight and bias in a module, and a count of the times the helper asked for W.
struct FrozenLayer : torch::nn::Module {
  FrozenLayer(int64_t out, int64_t in, bool kn_storage) : kn(kn_storage) {
    at::manual_seed(3);
    const at::Tensor w = at::randn({out, in});
    stored = register_buffer("stored", kn ? w.t().contiguous() : w);
    bias = register_parameter("bias", at::randn({out}), /*requires_grad=*/false);
  }
  at::Tensor dense() const { return kn ? stored.t() : stored; }  // (out, in), a transposed view for kn storage
  at::Tensor forward(const at::Tensor& x, const at::Tensor& b) {
    return linear_recomputing_weight(x, b, *this, [this] {
      ++weight_calls;
      return dense().clone();  // a fresh tensor each call, like a dequantization (strides kept: kn's is a view)
    });
  }
  bool kn;
  at::Tensor stored, bias;
  int weight_calls = 0;
};

struct Gradients {
  at::Tensor y, dx, db;
};

// y and the gradients of sum(y * g) through `forward`, for a fresh leaf x (and bias when trained).
template <typename Forward>
Gradients gradients_of(Forward forward, const at::Tensor& x_value, const at::Tensor& bias_value, bool train_bias) {
  const at::Tensor x = x_value.clone().requires_grad_(true);
  const at::Tensor b = bias_value.clone().requires_grad_(train_bias);
  const at::Tensor y = forward(x, b);
  at::manual_seed(11);
  (y * at::randn_like(y)).sum().backward();
  return {y.detach(), x.grad(), train_bias ? b.grad() : at::Tensor()};
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double scale = expected.abs().max().item<double>();
  EXPECT_LE((actual - expected).abs().max().item<double>(), 1e-6 * scale) << what;
}

TEST(RecomputedWeightLinear, OutputsAndGradientsAreAtLinears) {
  for (bool kn : {false, true}) {
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{5, 24}, std::vector<int64_t>{2, 3, 24}}) {
      for (bool train_bias : {false, true}) {
        auto layer = std::make_shared<FrozenLayer>(16, 24, kn);
        at::manual_seed(7);
        const at::Tensor x = at::randn(shape);
        const Gradients expected =
            gradients_of([&](const at::Tensor& xi, const at::Tensor& b) { return at::linear(xi, layer->dense(), b); },
                         x, layer->bias, train_bias);
        const Gradients actual =
            gradients_of([&](const at::Tensor& xi, const at::Tensor& b) { return layer->forward(xi, b); }, x,
                         layer->bias, train_bias);
        const std::string what = std::string(kn ? "(in, out) storage" : "(out, in) storage") + ", " +
                                 std::to_string(shape.size()) + "-d input" + (train_bias ? ", trained bias" : "");
        EXPECT_TRUE(at::equal(actual.y, expected.y)) << what << ": the forward must be at::linear's";
        expect_close(actual.dx, expected.dx, what + ": dx");
        if (train_bias) expect_close(actual.db, expected.db, what + ": bias gradient");
        EXPECT_EQ(layer->weight_calls, 2) << what << ": W once in the forward, once in the backward";
      }
    }
  }
}

// at::linear adds the bias inside the GEMM for 2-D and contiguous inputs and after it otherwise; in bf16 the two
// round differently, so the helper must choose as at::linear does.
TEST(RecomputedWeightLinear, EveryInputLayoutGivesAtLinearsBits) {
  auto layer = std::make_shared<FrozenLayer>(1, 1, false);
  at::manual_seed(5);
  const at::Tensor w = at::randn({1088, 1024}).to(at::kBFloat16), b = at::randn({1088}).to(at::kBFloat16);
  const at::Tensor contiguous = at::randn({4, 3, 1024}).to(at::kBFloat16);
  for (const at::Tensor& input : {contiguous, contiguous.transpose(0, 1), contiguous[0][0], contiguous[0]}) {
    const at::Tensor x = input.detach().requires_grad_(true);
    const at::Tensor y = linear_recomputing_weight(x, b, *layer, [&] { return w; });
    EXPECT_TRUE(at::equal(y, at::linear(x.detach(), w, b)))
        << input.dim() << "-d input, " << (input.is_contiguous() ? "contiguous" : "not contiguous");
    y.sum().backward();
    EXPECT_EQ(x.grad().sizes(), x.sizes());
  }
}

TEST(RecomputedWeightLinear, OnlyATrainedBiasNeedsNoWeightInTheBackward) {
  auto layer = std::make_shared<FrozenLayer>(8, 12, false);
  const at::Tensor b = layer->bias.clone().requires_grad_(true);
  const at::Tensor y = layer->forward(at::randn({3, 12}), b);
  y.sum().backward();
  EXPECT_EQ(layer->weight_calls, 1);
  EXPECT_TRUE(at::equal(b.grad(), at::full({8}, 3.0f)));
}

TEST(RecomputedWeightLinear, WithoutAGradientItIsAtLinear) {
  auto layer = std::make_shared<FrozenLayer>(8, 12, true);
  const at::Tensor x = at::randn({2, 4, 12}).requires_grad_(true);
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = layer->forward(x, layer->bias);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(at::equal(y, at::linear(x.detach(), layer->dense(), layer->bias)));
  EXPECT_EQ(layer->weight_calls, 1);
}

TEST(RecomputedWeightLinear, KeepsNoWeightBetweenForwardAndBackward) {
  auto layer = std::make_shared<FrozenLayer>(8, 12, false);
  std::vector<c10::weak_intrusive_ptr<c10::TensorImpl>> weights;  // each W the helper was given
  const at::Tensor x = at::randn({3, 12}).requires_grad_(true);
  const at::Tensor y = linear_recomputing_weight(x, at::Tensor(), *layer, [&] {
    const at::Tensor w = layer->dense().clone();
    weights.emplace_back(w.getIntrusivePtr());
    return w;
  });
  ASSERT_EQ(weights.size(), 1u);
  EXPECT_TRUE(weights[0].expired()) << "the forward's W is still held after the forward";
  y.sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), layer->dense().sum(0).expand({3, 12})));
}

TEST(RecomputedWeightLinear, TheBackwardKeepsTheLayerAlive) {
  auto layer = std::make_shared<FrozenLayer>(8, 12, false);
  const at::Tensor expected_dx = layer->dense().sum(0).expand({3, 12}).clone();
  const std::weak_ptr<FrozenLayer> watch = layer;
  const at::Tensor x = at::randn({3, 12}).requires_grad_(true);
  at::Tensor y = layer->forward(x, at::Tensor());
  layer.reset();
  EXPECT_FALSE(watch.expired()) << "the graph must keep the layer whose weight the backward dequantizes";
  y.sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), expected_dx));
  y = at::Tensor();
  EXPECT_TRUE(watch.expired()) << "the layer must be released with the graph";
}

TEST(RecomputedWeightLinear, EachBackwardDequantizesAgain) {
  auto layer = std::make_shared<FrozenLayer>(8, 12, false);
  const at::Tensor x = at::randn({3, 12}).requires_grad_(true);
  const at::Tensor loss = layer->forward(x, at::Tensor()).sum();
  loss.backward({}, /*retain_graph=*/true);
  loss.backward();
  EXPECT_EQ(layer->weight_calls, 3);
  EXPECT_TRUE(at::allclose(x.grad(), 2 * layer->dense().sum(0).expand({3, 12})));
}

}  // namespace
}  // namespace oft::sdk
