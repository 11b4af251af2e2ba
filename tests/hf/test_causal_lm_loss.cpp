// causal_lm_loss against the definition it replaces: the logits of positions 0..seq-2 sliced out and compared
// with labels 1..seq-1, ignoring -100 (transformers' ForCausalLMLoss computes the same by moving the labels).
#include <cmath>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "oft/hf/causal_lm_loss.h"

namespace oft::models::test {
namespace {

at::Tensor sliced_definition(const at::Tensor& logits, const at::Tensor& labels, int64_t reduction) {
  const at::Tensor predicted = logits.slice(1, 0, -1).reshape({-1, logits.size(-1)}).to(at::kFloat);
  return at::cross_entropy_loss(predicted, labels.slice(1, 1).reshape({-1}), {}, reduction, -100);
}

TEST(CausalLmLoss, MatchesTheSlicedLogitsDefinitionWithIgnoredLabels) {
  at::manual_seed(0);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor logits = at::randn({3, 7, 11}).to(dtype).requires_grad_();
    at::Tensor labels = at::randint(11, {3, 7}, at::kLong);
    labels.index_put_({0, at::indexing::Slice(0, 3)}, -100);  // a prompt without loss
    labels.index_put_({2, 4}, -100);
    for (const int64_t reduction : {at::Reduction::Mean, at::Reduction::Sum}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (reduction == at::Reduction::Mean ? ", mean" : ", sum"));
      const at::Tensor ours = causal_lm_loss(logits, labels, reduction);
      const at::Tensor expected = sliced_definition(logits, labels, reduction);
      EXPECT_EQ(ours.scalar_type(), at::kFloat);
      EXPECT_NEAR(ours.item<double>(), expected.item<double>(), 1e-6 * std::abs(expected.item<double>()));
      const at::Tensor grad = torch::autograd::grad({ours}, {logits})[0];
      const at::Tensor expected_grad = torch::autograd::grad({expected}, {logits})[0];
      EXPECT_TRUE(at::allclose(grad.to(at::kFloat), expected_grad.to(at::kFloat), 1e-6, 1e-7));
      EXPECT_TRUE(at::equal(grad.select(1, 6), at::zeros_like(grad.select(1, 6))))
          << "the last position predicts nothing";
    }
  }
}

TEST(CausalLmLoss, ChunksOfRowsGiveTheSameLossAndGradientBitForBit) {
  at::manual_seed(1);
  const at::Tensor logits = at::randn({2, 9, 13}).to(at::kBFloat16).requires_grad_();
  at::Tensor labels = at::randint(13, {2, 9}, at::kLong);
  labels.index_put_({1, 2}, -100);
  const at::Tensor whole = causal_lm_loss(logits, labels, at::Reduction::Mean, 18);
  const at::Tensor whole_grad = torch::autograd::grad({whole}, {logits})[0];
  for (const int64_t rows : {1, 4, 7, 17}) {
    SCOPED_TRACE(std::to_string(rows) + " rows per chunk");
    const at::Tensor chunked = causal_lm_loss(logits, labels, at::Reduction::Mean, rows);
    EXPECT_TRUE(at::equal(chunked, whole));
    EXPECT_TRUE(at::equal(torch::autograd::grad({chunked}, {logits})[0], whole_grad));
  }
}

TEST(CausalLmLoss, ABatchWithoutTargetsHasANanMeanAndNoGradientAsCrossEntropy) {
  const at::Tensor logits = at::randn({1, 4, 5}).requires_grad_();
  const at::Tensor labels = at::full({1, 4}, -100, at::kLong);
  const at::Tensor ours = causal_lm_loss(logits, labels);
  const at::Tensor expected = sliced_definition(logits, labels, at::Reduction::Mean);
  EXPECT_TRUE(std::isnan(ours.item<double>()));
  EXPECT_TRUE(std::isnan(expected.item<double>()));
  const at::Tensor grad = torch::autograd::grad({ours}, {logits})[0];
  EXPECT_TRUE(at::equal(grad, torch::autograd::grad({expected}, {logits})[0]));
  EXPECT_TRUE(at::equal(grad, at::zeros_like(grad)));
}

TEST(CausalLmLoss, MismatchedShapesAreNamed) {
  try {
    causal_lm_loss(at::zeros({2, 5, 4}), at::zeros({2, 4}, at::kLong));
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 5, 4] and [2, 4]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace oft::models::test
