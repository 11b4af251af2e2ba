// The lookup-table product for a few tokens (aqlm_lookup_product.h) against the dequantized weight: the same
// products in another order for fp32 codebooks, the codeword sums left unrounded for fp16 ones, and the forward
// takes it exactly where it applies.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "aqlm_codes.h"
#include "aqlm_format.h"
#include "aqlm_lookup_product.h"
#include "test_support.h"

namespace oft::aqlm::test {
namespace {

struct Layout {
  int64_t codebooks, nbits, out_group, in_group;
};

// The 8-bit-or-smaller layouts of the golden cases, plus 1x8 in groups of 8.
const Layout kLayouts[] = {{2, 8, 1, 8}, {1, 8, 1, 8}, {1, 8, 2, 4}, {3, 6, 4, 2}, {4, 4, 1, 16}};

std::shared_ptr<AqlmLinear> random_layer(const Layout& l, c10::ScalarType dtype, int64_t out = 48, int64_t in = 64) {
  AqlmConfig config;
  config.num_codebooks = l.codebooks;
  config.nbits_per_codebook = l.nbits;
  config.out_group_size = l.out_group;
  config.in_group_size = l.in_group;
  const int64_t q = config.codebook_size();
  AqlmWeights w{at::randint(q, {out / l.out_group, in / l.in_group, l.codebooks}, at::kLong),
                at::randn({l.codebooks, q, l.out_group, l.in_group}).to(dtype),
                (at::rand({out / l.out_group, 1, 1, 1}) + 0.5).to(dtype)};
  return make_layer(w, at::randn({out}).to(dtype), config);
}

// W as the lookup product defines it: scale · Σ_c codeword in fp32, with no rounding to the codebooks' dtype.
at::Tensor unrounded_weight(const AqlmLinear& layer) {
  const at::Tensor sum = sum_codewords(layer.unpacked_codes(), layer.codebooks());
  return from_groups(sum * layer.scales().to(at::kFloat).reshape({-1, 1, 1, 1}));
}

std::string name(const Layout& l) {
  return std::to_string(l.codebooks) + "x" + std::to_string(l.nbits) + " og" + std::to_string(l.out_group) + " ig" +
         std::to_string(l.in_group);
}

TEST(AqlmLookupProduct, EqualsTheDequantizedProductUpToSummationOrderForFloat32Codebooks) {
  at::manual_seed(1);
  c10::NoGradGuard no_grad;
  for (const Layout& l : kLayouts)
    for (int64_t tokens : {int64_t{1}, int64_t{3}, kLookupMaxTokens}) {
      SCOPED_TRACE(name(l) + ", " + std::to_string(tokens) + " tokens");
      auto layer = random_layer(l, at::kFloat);
      const at::Tensor x = at::randn({tokens, layer->in_features()});
      const at::Tensor expected = at::linear(x, layer->dequantize(), layer->bias());
      EXPECT_TRUE(oft::test::close(layer->forward(x), expected, 1e-6, "forward vs dequantized product"));
    }
}

TEST(AqlmLookupProduct, LeavesTheCodewordSumsOfFloat16CodebooksUnrounded) {
  at::manual_seed(2);
  c10::NoGradGuard no_grad;
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(name(l));
    auto layer = random_layer(l, at::kHalf);
    const at::Tensor x = at::randn({4, layer->in_features()});
    const at::Tensor y = lookup_product(x, layer->codes(), l.nbits, layer->codebooks().to(at::kFloat),
                                        layer->scales().to(at::kFloat).reshape(-1));
    EXPECT_TRUE(oft::test::close(y, at::linear(x, unrounded_weight(*layer)), 1e-6, "vs the unrounded weight"));
    // aqlm's _dequantize_weight rounds the sum and the product to fp16: 2 ulp per weight at most, less in sums.
    EXPECT_TRUE(oft::test::close(y, at::linear(x, layer->dequantize().to(at::kFloat)), 1e-3, "vs dequantize()"));
  }
}

TEST(AqlmLookupProduct, ForwardTakesItUpToTheTokenLimitAndInEveryInputShape) {
  at::manual_seed(3);
  c10::NoGradGuard no_grad;
  auto layer = random_layer(kLayouts[0], at::kHalf);
  const auto lookup = [&](const at::Tensor& x2d) {
    return (lookup_product(x2d.to(at::kFloat), layer->codes(), 8, layer->codebooks().to(at::kFloat),
                           layer->scales().to(at::kFloat).reshape(-1)) +
            layer->bias().to(at::kFloat))
        .to(x2d.scalar_type());
  };
  static_assert(kLookupMaxTokens % 2 == 0);
  const int64_t half = kLookupMaxTokens / 2;
  const at::Tensor x = at::randn({2, half, layer->in_features()}).to(at::kHalf);  // the limit, in two sequences
  EXPECT_TRUE(at::equal(layer->forward(x), lookup(x.reshape({kLookupMaxTokens, -1})).view({2, half, -1})));
  // One token more: the tiled product of the dequantized weight (aqlm's rounding), not the lookup.
  const at::Tensor longer = at::randn({kLookupMaxTokens + 1, layer->in_features()}).to(at::kHalf);
  EXPECT_FALSE(lookup_product_applies(kLookupMaxTokens + 1, 8));
  EXPECT_TRUE(oft::test::close(layer->forward(longer), lookup(longer), 1e-3, "tiled vs lookup"));
  EXPECT_FALSE(lookup_product_applies(1, 16));  // 2^16-entry codebooks: the table would outgrow W
}

TEST(AqlmLookupProduct, ResultDoesNotDependOnTheNumberOfThreads) {
  at::manual_seed(4);
  c10::NoGradGuard no_grad;
  auto layer = random_layer(kLayouts[0], at::kFloat, 256, 2048);  // several parallel tasks and table blocks
  const int threads = at::get_num_threads();
  for (int64_t tokens : {int64_t{1}, int64_t{5}}) {
    const at::Tensor x = at::randn({tokens, layer->in_features()});
    at::set_num_threads(1);
    const at::Tensor one = layer->forward(x);
    at::set_num_threads(2);
    EXPECT_TRUE(at::equal(layer->forward(x), one)) << tokens << " tokens";
  }
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace oft::aqlm::test
