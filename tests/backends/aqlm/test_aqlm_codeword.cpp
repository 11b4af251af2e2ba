// The codeword product for a few tokens (aqlm_codeword_product.h) against the dequantized weight: the same
// products in another order for fp32 codebooks, the codeword sums left unrounded for fp16/bf16 ones, the same bits
// on x86's eight lanes and on the code for every CPU, and the forward takes it exactly where it applies.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "aqlm_codes.h"
#include "aqlm_codeword_product.h"
#include "aqlm_format.h"
#include "aqlm_test_data.h"
#include "test_support.h"

namespace oft::aqlm::test {
namespace {

// The golden cases' layouts plus 1x16 and 1x8 in groups of 8: one and two codebooks with single-row output groups
// (the kernels that know the codebook count) in input groups of 4, 8 and 16 (one, two and four four-lane chunks),
// the generic kernel with output groups of 2 and 4, input groups of 2 (one lane).
const CodebookLayout kLayouts[] = {{1, 16, 1, 8}, {2, 8, 1, 8}, {1, 8, 1, 8},  {1, 16, 1, 4}, {2, 8, 1, 16},
                                   {1, 8, 2, 4},  {3, 6, 4, 2}, {4, 4, 1, 16}, {2, 10, 2, 8}};

// Row blocks of four and, for output groups of 1 and 2, the single rows after them.
int64_t outputs_of(const CodebookLayout& l) { return l.out_group == 4 ? 44 : 46; }

std::shared_ptr<AqlmLinear> random_layer(const CodebookLayout& l, c10::ScalarType dtype, int64_t out = 0,
                                         int64_t in = 64) {
  if (out == 0) out = outputs_of(l);
  const AqlmConfig config = config_of(l);
  const int64_t q = config.codebook_size();
  AqlmWeights w{at::randint(q, {out / l.out_group, in / l.in_group, l.codebooks}, at::kLong),
                at::randn({l.codebooks, q, l.out_group, l.in_group}).to(dtype),
                (at::rand({out / l.out_group, 1, 1, 1}) + 0.5).to(dtype)};
  return make_layer(w, at::randn({out}).to(dtype), config);
}

at::Tensor product(const AqlmLinear& layer, const at::Tensor& x, int64_t nbits,
                   sdk::RoundingPath path = sdk::RoundingPath::kFastest) {
  return codeword_product(x, layer.codes(), nbits, layer.codebooks(), layer.scales().to(at::kFloat).reshape(-1), path);
}

// W as the codeword product defines it: scale · Σ_c codeword in fp32, with no rounding to the codebooks' dtype.
at::Tensor unrounded_weight(const AqlmLinear& layer) {
  const at::Tensor sum = sum_codewords(layer.unpacked_codes(), layer.codebooks());
  return from_groups(sum * layer.scales().to(at::kFloat).reshape({-1, 1, 1, 1}));
}

TEST(AqlmCodewordProduct, EqualsTheDequantizedProductUpToSummationOrderForFloat32Codebooks) {
  at::manual_seed(1);
  c10::NoGradGuard no_grad;
  for (const CodebookLayout& l : kLayouts)
    for (int64_t tokens : {int64_t{1}, int64_t{3}, int64_t{8}}) {
      SCOPED_TRACE(layout_name(l) + ", " + std::to_string(tokens) + " tokens");
      auto layer = random_layer(l, at::kFloat);
      const at::Tensor x = at::randn({tokens, layer->in_features()});
      const at::Tensor expected = at::linear(x, layer->dequantize(), layer->bias());
      EXPECT_TRUE(oft::test::close(layer->forward(x), expected, 1e-6, "forward vs dequantized product"));
    }
}

TEST(AqlmCodewordProduct, LeavesTheCodewordSumsOfReducedPrecisionCodebooksUnrounded) {
  at::manual_seed(2);
  c10::NoGradGuard no_grad;
  for (const CodebookLayout& l : kLayouts)
    for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(layout_name(l) + ", " + c10::toString(dtype));
      auto layer = random_layer(l, dtype);
      const at::Tensor x = at::randn({5, layer->in_features()});
      const at::Tensor y = product(*layer, x, l.nbits);
      EXPECT_TRUE(oft::test::close(y, at::linear(x, unrounded_weight(*layer)), 1e-6, "vs the unrounded weight"));
      // aqlm's _dequantize_weight rounds the sum and the product to the dtype: 2 ulp per weight at most, less in
      // the sums.
      const double ulps = dtype == at::kHalf ? 1e-3 : 8e-3;
      EXPECT_TRUE(oft::test::close(y, at::linear(x, layer->dequantize().to(at::kFloat)), ulps, "vs dequantize()"));
    }
}

TEST(AqlmCodewordProduct, EightLanesGiveTheBitsOfTheCodeForEveryCpu) {
  if (!sdk::runs_in_8_lanes(at::kFloat)) GTEST_SKIP() << "this CPU has no eight-lane path (x86 AVX2 + F16C)";
  at::manual_seed(3);
  c10::NoGradGuard no_grad;
  for (const CodebookLayout& l : kLayouts) {
    if (l.in_group != 8) continue;  // only input groups of 8 take eight lanes
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16})
      for (int64_t tokens : {int64_t{1}, int64_t{2}, int64_t{7}}) {
        SCOPED_TRACE(layout_name(l) + ", " + c10::toString(dtype) + ", " + std::to_string(tokens) + " tokens");
        auto layer = random_layer(l, dtype);
        const at::Tensor x = at::randn({tokens, layer->in_features()});
        EXPECT_TRUE(at::equal(product(*layer, x, l.nbits, sdk::RoundingPath::kFastest),
                              product(*layer, x, l.nbits, sdk::RoundingPath::kPortable)));
      }
  }
}

TEST(AqlmCodewordProduct, ReadsCodesOfUpTo8BitsAlikeFromInt8AndInt16) {
  at::manual_seed(6);
  c10::NoGradGuard no_grad;
  for (const CodebookLayout& l : kLayouts) {
    if (l.nbits > 8) continue;
    for (const auto path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
      SCOPED_TRACE(layout_name(l) + (path == sdk::RoundingPath::kFastest ? ", fastest" : ", portable"));
      auto layer = random_layer(l, at::kHalf);
      const at::Tensor x = at::randn({3, layer->in_features()});
      const at::Tensor scales = layer->scales().to(at::kFloat).reshape(-1);
      ASSERT_EQ(layer->codes().scalar_type(), at::kChar);
      // aqlm's int8 codes hold codes past 127 as negative numbers; widened, they keep the sign the mask drops.
      const at::Tensor widened = layer->codes().to(at::kShort);
      EXPECT_TRUE(at::equal(codeword_product(x, widened, l.nbits, layer->codebooks(), scales, path),
                            product(*layer, x, l.nbits, path)));
    }
  }
}

TEST(AqlmCodewordProduct, ForwardTakesItUpToTheTokenLimitAndInEveryInputShape) {
  at::manual_seed(4);
  c10::NoGradGuard no_grad;
  for (const CodebookLayout& l : {kLayouts[0], kLayouts[1]}) {
    SCOPED_TRACE(layout_name(l));
    auto layer = random_layer(l, at::kHalf);
    const auto by_codewords = [&](const at::Tensor& x2d) {
      return (product(*layer, x2d.to(at::kFloat), l.nbits) + layer->bias().to(at::kFloat)).to(x2d.scalar_type());
    };
    const int64_t limit = codeword_max_tokens(l.codebooks);
    const at::Tensor x = at::randn({2, limit / 2, layer->in_features()}).to(at::kHalf);  // the limit, two sequences
    EXPECT_TRUE(codeword_product_applies(limit, l.codebooks));
    EXPECT_TRUE(at::equal(layer->forward(x), by_codewords(x.reshape({limit, -1})).view({2, limit / 2, -1})));
    // One token more: the tiled product of the dequantized weight (aqlm's rounding), not the codewords.
    const at::Tensor longer = at::randn({limit + 1, layer->in_features()}).to(at::kHalf);
    EXPECT_FALSE(codeword_product_applies(limit + 1, l.codebooks));
    EXPECT_FALSE(at::equal(layer->forward(longer), by_codewords(longer)));
    EXPECT_TRUE(oft::test::close(layer->forward(longer), by_codewords(longer), 1e-3, "tiled vs codewords"));
  }
}

TEST(AqlmCodewordProduct, ResultDoesNotDependOnTheNumberOfThreads) {
  at::manual_seed(5);
  c10::NoGradGuard no_grad;
  auto layer = random_layer(kLayouts[1], at::kFloat, 260, 2048);  // several parallel tasks, a last short block
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

TEST(AqlmCodewordProduct, RefusesCodesAndInputsItCannotRead) {
  c10::NoGradGuard no_grad;
  auto layer = random_layer(kLayouts[1], at::kHalf);
  const at::Tensor scales = layer->scales().to(at::kFloat).reshape(-1);
  const auto message = [&](const at::Tensor& x, const at::Tensor& codes) -> std::string {
    try {
      codeword_product(x, codes, 8, layer->codebooks(), scales);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  const at::Tensor x = at::randn({2, layer->in_features()});
  EXPECT_NE(message(x, layer->codes().to(at::kInt)).find("int8 codes of 1 to 8 bits or int16 codes of 1 to 16 bits"),
            std::string::npos);
  try {  // int8 codes cannot hold 9 bits
    codeword_product(x, layer->codes(), 9, layer->codebooks(), scales);
    ADD_FAILURE() << "9-bit int8 codes accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("got Char codes of 9 bits"), std::string::npos) << e.what();
  }
  EXPECT_NE(message(x.to(at::kHalf), layer->codes()).find("contiguous float input of (tokens, 64)"), std::string::npos);
  EXPECT_NE(message(at::randn({2, 32}), layer->codes()).find("(tokens, 64)"), std::string::npos);
  EXPECT_EQ(message(x, layer->codes()), "no error");
}

}  // namespace
}  // namespace oft::aqlm::test
