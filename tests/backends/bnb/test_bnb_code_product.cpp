// The few-token product straight from NF4/FP4 codes (code_product_4bit.h) against x · Wᵀ with W from
// dequantize_4bit (bitsandbytes' values in the compute dtype), for both code tables, every compute dtype, plain and
// nested absmax; where it applies; its result does not depend on the number of threads; and the forward takes it
// up to its token limit. Each x86 path is pinned: eight lanes (AVX2) everywhere it runs, sixteen (AVX-512F) where
// the CPU has it.
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "blockwise.h"
#include "code_product_4bit.h"
#include "linear4bit.h"
#include "test_support.h"

namespace oft::bnb::test {
namespace {

constexpr int64_t kOut = 40, kIn = 256;

bool cpu_has_the_4bit_code_product() { return code_product_4bit_applies(1, kIn, 64, at::kFloat); }

// The paths this CPU runs, each with its token limit.
std::vector<std::pair<sdk::ProductLanes, int64_t>> paths_here(int64_t blocksize) {
  std::vector<std::pair<sdk::ProductLanes, int64_t>> paths{{sdk::ProductLanes::kEight, kCodeProduct4bitMaxTokens}};
  if (code_product_4bit_takes_16_lanes(blocksize, sdk::ProductLanes::kWidest))
    paths.emplace_back(sdk::ProductLanes::kWidest, kCodeProduct4bitMaxTokens16Lanes);
  return paths;
}

std::string name_of(sdk::ProductLanes lanes) { return lanes == sdk::ProductLanes::kEight ? "8 lanes" : "16 lanes"; }

std::shared_ptr<Linear4bit> random_layer(QuantType type, c10::ScalarType compute, int64_t blocksize = 64,
                                         bool nested = false, int64_t out = kOut) {
  FourBitState state;
  state.quant_type = type;
  state.blocksize = blocksize;
  state.compute_dtype = compute;
  state.nested = nested;
  return Linear4bit::from_float(at::randn({out, kIn}) * 0.05, at::randn({out}), state);
}

at::Tensor product(const Linear4bit& layer, const at::Tensor& x, sdk::ProductLanes lanes = sdk::ProductLanes::kWidest) {
  return code_product_4bit(x, layer.packed(), layer.absmax_float().contiguous(), layer.state().quant_type,
                           layer.state().blocksize, layer.out_features(), layer.state().compute_dtype, lanes);
}

// W as the forward multiplies it: dequantize_4bit's values in the compute dtype, widened to fp32.
at::Tensor weight(const Linear4bit& layer) {
  const FourBitState& s = layer.state();
  return dequantize_4bit(layer.packed(), layer.absmax_float(), s.quant_type, s.blocksize, layer.out_features(), kIn,
                         s.compute_dtype)
      .to(at::kFloat);
}

TEST(BnbCodeProduct4bit, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_has_the_4bit_code_product())
    GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code product does not run here";
  at::manual_seed(41);
  for (const QuantType type : {QuantType::NF4, QuantType::FP4})
    for (const at::ScalarType compute : {at::kFloat, at::kHalf, at::kBFloat16})
      for (const int64_t blocksize : {int64_t{32}, int64_t{64}, int64_t{128}})
        for (const bool nested : {false, true})
          for (const auto& [lanes, limit] : paths_here(blocksize))
            for (const int64_t tokens : {int64_t{1}, int64_t{3}, int64_t{6}, limit}) {
              SCOPED_TRACE(name_of(type) + " " + c10::toString(compute) + " blocks of " + std::to_string(blocksize) +
                           (nested ? " nested, " : ", ") + std::to_string(tokens) + " tokens, " + name_of(lanes));
              const auto layer = random_layer(type, compute, blocksize, nested);
              const at::Tensor x = at::randn({tokens, kIn}).to(compute).to(at::kFloat);
              // fp32 sums of 256 products in another order than the GEMM's.
              EXPECT_TRUE(oft::test::close(product(*layer, x, lanes), at::matmul(x, weight(*layer).t()), 4e-6,
                                           "code product vs x · dequantized W^T"));
            }
}

TEST(BnbCodeProduct4bit, AppliesToFewTokensOfBlocksWithinRows) {
  if (!cpu_has_the_4bit_code_product())
    GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code product does not run here";
  for (const auto& [lanes, limit] : paths_here(64)) {
    SCOPED_TRACE(name_of(lanes));
    EXPECT_TRUE(code_product_4bit_applies(limit, kIn, 64, at::kBFloat16, lanes));
    EXPECT_FALSE(code_product_4bit_applies(0, kIn, 64, at::kFloat, lanes));
    EXPECT_FALSE(code_product_4bit_applies(limit + 1, kIn, 64, at::kFloat, lanes));
    EXPECT_FALSE(code_product_4bit_applies(1, 96, 64, at::kFloat, lanes));  // a block across two rows
    EXPECT_FALSE(code_product_4bit_applies(1, kIn, 64, at::kDouble, lanes));
  }
  // Blocks of 16 codes take eight lanes, with their limit.
  EXPECT_FALSE(code_product_4bit_takes_16_lanes(16, sdk::ProductLanes::kWidest));
  EXPECT_FALSE(code_product_4bit_takes_16_lanes(64, sdk::ProductLanes::kEight));
  EXPECT_FALSE(code_product_4bit_applies(kCodeProduct4bitMaxTokens + 1, kIn, 16, at::kFloat));
}

TEST(BnbCodeProduct4bit, ResultDoesNotDependOnTheNumberOfThreads) {
  if (!cpu_has_the_4bit_code_product())
    GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code product does not run here";
  at::manual_seed(42);
  const auto layer = random_layer(QuantType::NF4, at::kFloat, 64, false, 100);  // several tasks, a short last one
  const int threads = at::get_num_threads();
  for (const auto& [lanes, limit] : paths_here(64))
    for (const int64_t tokens : {int64_t{1}, int64_t{7}}) {
      const at::Tensor x = at::randn({tokens, kIn});
      at::set_num_threads(1);
      const at::Tensor one = product(*layer, x, lanes);
      at::set_num_threads(2);
      EXPECT_TRUE(at::equal(product(*layer, x, lanes), one)) << tokens << " tokens, " << name_of(lanes);
    }
  at::set_num_threads(threads);
}

TEST(BnbCodeProduct4bit, ForwardTakesItUpToTheTokenLimit) {
  if (!cpu_has_the_4bit_code_product())
    GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code product does not run here";
  at::manual_seed(43);
  c10::NoGradGuard no_grad;
  for (const at::ScalarType compute : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(compute));
    const auto layer = random_layer(QuantType::NF4, compute);
    const auto by_codes = [&](const at::Tensor& x2d) {
      const at::Tensor y = product(*layer, x2d.to(compute).to(at::kFloat)).to(compute);
      return (y + layer->bias().to(compute)).to(x2d.scalar_type());
    };
    const int64_t limit = paths_here(64).back().second;                 // the forward takes the widest path
    const at::Tensor x = at::randn({2, limit / 2, kIn}).to(at::kHalf);  // the limit, two sequences, another dtype
    EXPECT_TRUE(at::equal(layer->forward(x), by_codes(x.reshape({limit, -1})).view({2, limit / 2, -1})));
    // One token more: the tiled product, which code_product_4bit refuses.
    const at::Tensor longer = at::randn({limit + 1, kIn});
    EXPECT_FALSE(code_product_4bit_applies(limit + 1, kIn, 64, compute));
    const at::Tensor expected =
        at::linear(longer.to(compute).to(at::kFloat), weight(*layer), layer->bias().to(at::kFloat));
    EXPECT_TRUE(oft::test::close(layer->forward(longer), expected, compute == at::kFloat ? 1e-5 : 1e-2,
                                 "tiled forward vs x · dequantized W^T"));
  }
}

TEST(BnbCodeProduct4bit, RefusesWhatDoesNotApply) {
  const auto layer = random_layer(QuantType::NF4, at::kFloat);
  try {
    product(*layer, at::randn({2, kIn - 64}));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("does not apply to 2 tokens of 192 inputs in blocks of 64 computed in Float"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace oft::bnb::test
