// The few-token product straight from byte-packed code rows (hqq_code_row_product.h) against x · Wᵀ with W from
// dequantize_code_rows (hqq's rounded values), for every byte packing and step dtype; where it applies; its result
// does not depend on the number of threads; and the forward takes it up to its token limit. Each x86 path is pinned:
// eight lanes (AVX2) everywhere it runs, sixteen (AVX-512F) where the CPU has it.
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "hqq_code_row_product.h"
#include "hqq_linear.h"
#include "hqq_packing.h"
#include "hqq_quantizer.h"
#include "test_support.h"

namespace oft::hqq::test {
namespace {

// A layer's code rows, packed, with a zero point and scale per code row.
struct PackedLayer {
  std::string packing;
  at::Tensor packed, zero, scale;
  int64_t out, in;

  CodeRowWeights weights(c10::ScalarType compute) const {
    return {packed, packing, zero, scale, step_dtypes(compute, zero, scale), out, in};
  }
  // W (out, in) in float, each value hqq's two rounded steps (the portable path, no eight lanes).
  at::Tensor weight(c10::ScalarType compute) const {
    const int64_t rows = zero.size(0);
    at::Tensor w = at::empty({rows, packed.size(1)});
    dequantize_code_rows(packed, packing, 0, rows, zero, scale, step_dtypes(compute, zero, scale), w,
                         sdk::RoundingPath::kPortable);
    return w.reshape({out, in});
  }
};

PackedLayer random_layer(const std::string& packing, c10::ScalarType dtype, int64_t out = 16, int64_t in = 128,
                         int64_t cols = 64) {
  const int64_t levels = int64_t{1} << code_bits(packing), rows = out * in / cols;
  const at::Tensor codes = at::randint(levels, {rows, cols}, at::kInt);
  at::Tensor scale = at::rand({rows, 1}) * 0.02 + 1e-3;
  scale[3] = 1e-6;   // fp16 subnormal products
  scale[5] = 200.0;  // products near the top of fp16's range (255 · 200)
  return {packing,
          pack(codes, packing).contiguous(),
          (at::rand({rows, 1}) * static_cast<double>(levels)).to(dtype),
          scale.to(dtype),
          out,
          in};
}

const char* const kBytePackings[] = {"8bit_u8", "4bit_u8", "2bit_u8", "1bit_u8"};

bool cpu_takes_it() {
  const PackedLayer layer = random_layer("4bit_u8", at::kFloat);
  return code_row_product_applies(1, layer.weights(at::kFloat));
}

// The paths this CPU runs for `layer`, each with its token limit.
std::vector<std::pair<sdk::ProductLanes, int64_t>> paths_here(const PackedLayer& layer) {
  std::vector<std::pair<sdk::ProductLanes, int64_t>> paths{{sdk::ProductLanes::kEight, kCodeRowProductMaxTokens}};
  if (code_row_product_takes_16_lanes(layer.weights(at::kFloat), sdk::ProductLanes::kWidest))
    paths.emplace_back(sdk::ProductLanes::kWidest,
                       code_row_product_max_tokens(layer.weights(at::kFloat), sdk::ProductLanes::kWidest));
  return paths;
}

std::string name_of(sdk::ProductLanes lanes) { return lanes == sdk::ProductLanes::kEight ? "8 lanes" : "16 lanes"; }

TEST(HqqCodeRowProduct, EqualsTheProductWithTheDequantizedWeight) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code row product does not run here";
  at::manual_seed(31);
  for (const std::string packing : kBytePackings)
    for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat})
      // 16 lanes: pairs of 16 codes, pairs and one more, one, none
      for (const int64_t cols : {int64_t{64}, int64_t{48}, int64_t{16}, int64_t{8}}) {
        const PackedLayer layer = random_layer(packing, dtype, 16, 192, cols);
        for (const auto& [lanes, limit] : paths_here(layer))
          for (const int64_t tokens : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, limit}) {
            SCOPED_TRACE(packing + " " + c10::toString(dtype) + ", code rows of " + std::to_string(cols) + ", " +
                         std::to_string(tokens) + " tokens, " + name_of(lanes));
            const at::Tensor x = at::randn({tokens, layer.in});
            const at::Tensor w = layer.weight(dtype).to(at::kDouble);
            // fp32 sums of 192 products (scales from 1e-6 to 200) against exact ones: within a few ulp of the
            // largest sum of the products' magnitudes (sums with much cancellation lose more relative to
            // themselves, in any summation order).
            const at::Tensor error = (code_row_product(x, layer.weights(dtype), lanes).to(at::kDouble) -
                                      at::matmul(x.to(at::kDouble), w.t()))
                                         .abs()
                                         .max();
            const at::Tensor magnitude = at::matmul(x.to(at::kDouble).abs(), w.abs().t()).max();
            EXPECT_LE(error.item<double>(), 4e-6 * magnitude.item<double>()) << "code row product vs x · W^T";
          }
      }
}

TEST(HqqCodeRowProduct, AppliesToFewTokensOfBytePackingsWithOneStepDtype) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code row product does not run here";
  const PackedLayer layer = random_layer("4bit_u8", at::kHalf);
  for (const auto& [lanes, limit] : paths_here(layer)) {
    SCOPED_TRACE(name_of(lanes));
    EXPECT_TRUE(code_row_product_applies(limit, layer.weights(at::kHalf), lanes));
    EXPECT_FALSE(code_row_product_applies(0, layer.weights(at::kHalf), lanes));
    EXPECT_FALSE(code_row_product_applies(limit + 1, layer.weights(at::kHalf), lanes));
  }
  // 8-bit codes and code rows of 8 values take eight lanes, with their limit.
  EXPECT_FALSE(code_row_product_takes_16_lanes(random_layer("8bit_u8", at::kHalf).weights(at::kHalf),
                                               sdk::ProductLanes::kWidest));
  const PackedLayer short_rows = random_layer("4bit_u8", at::kHalf, 16, 128, 8);
  EXPECT_FALSE(code_row_product_takes_16_lanes(short_rows.weights(at::kHalf), sdk::ProductLanes::kWidest));
  EXPECT_FALSE(code_row_product_applies(kCodeRowProductMaxTokens + 1, short_rows.weights(at::kHalf)));
  // Sixteen lanes: a limit per code width.
  if (sdk::takes_16_lanes(sdk::ProductLanes::kWidest)) {
    const auto limit_of = [](const std::string& packing) {
      return code_row_product_max_tokens(random_layer(packing, at::kHalf).weights(at::kHalf),
                                         sdk::ProductLanes::kWidest);
    };
    EXPECT_EQ(limit_of("4bit_u8"), kCodeRowProductMaxTokens16Lanes4Bit);
    EXPECT_EQ(limit_of("2bit_u8"), kCodeRowProductMaxTokens16Lanes2Bit);
    EXPECT_EQ(limit_of("1bit_u8"), kCodeRowProductMaxTokens16Lanes1Bit);
  }
  EXPECT_FALSE(code_row_product_takes_16_lanes(layer.weights(at::kHalf), sdk::ProductLanes::kEight));
  // fp16 zero and scale with fp32 compute: the steps round to fp32 both; with an fp32 scale, fp16 then fp32.
  EXPECT_TRUE(code_row_product_applies(1, layer.weights(at::kFloat)));
  PackedLayer mixed = layer;
  mixed.scale = layer.scale.to(at::kFloat);
  EXPECT_FALSE(code_row_product_applies(1, mixed.weights(at::kHalf)));
  EXPECT_FALSE(code_row_product_applies(1, random_layer("3bit_32", at::kHalf, 16, 128, 64).weights(at::kHalf)));
  EXPECT_FALSE(code_row_product_applies(1, random_layer("4bit_u8", at::kHalf, 16, 120, 60).weights(at::kHalf)));
  EXPECT_FALSE(code_row_product_applies(1, random_layer("2bit_u8", at::kHalf, 6, 128, 64).weights(at::kHalf)));
}

TEST(HqqCodeRowProduct, ResultDoesNotDependOnTheNumberOfThreads) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code row product does not run here";
  at::manual_seed(32);
  const PackedLayer layer = random_layer("4bit_u8", at::kHalf, 520, 256);  // several tasks, a short last one
  const int threads = at::get_num_threads();
  for (const auto& [lanes, limit] : paths_here(layer))
    for (const int64_t tokens : {int64_t{1}, int64_t{5}}) {
      const at::Tensor x = at::randn({tokens, layer.in});
      at::set_num_threads(1);
      const at::Tensor one = code_row_product(x, layer.weights(at::kHalf), lanes);
      at::set_num_threads(2);
      EXPECT_TRUE(at::equal(code_row_product(x, layer.weights(at::kHalf), lanes), one))
          << tokens << " tokens, " << name_of(lanes);
    }
  at::set_num_threads(threads);
}

TEST(HqqCodeRowProduct, ForwardTakesItUpToTheTokenLimit) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU lacks AVX2 or F16C: the code row product does not run here";
  at::manual_seed(33);
  c10::NoGradGuard no_grad;
  HqqSettings settings;
  settings.optimize = false;
  HqqLinear layer(quantize_state(at::randn({64, 256}), at::randn({64}), settings, at::kHalf));
  const HqqState state = layer.state();
  ASSERT_EQ(state.meta.packing, "4bit_u8");
  const CodeRowWeights weights{
      state.W_q, state.meta.packing, state.zero, state.scale, step_dtypes(at::kHalf, state.zero, state.scale), 64, 256};
  const auto by_code_rows = [&](const at::Tensor& x2d) {
    return (code_row_product(x2d.to(at::kFloat), weights) + state.bias.to(at::kFloat)).to(x2d.scalar_type());
  };
  const int64_t limit = code_row_product_max_tokens(weights, sdk::ProductLanes::kWidest);  // the widest path
  const at::Tensor x = at::randn({2, limit / 2, 256}).to(at::kHalf);                       // the limit, two sequences
  EXPECT_TRUE(at::equal(layer.forward(x), by_code_rows(x.reshape({limit, -1})).view({2, limit / 2, -1})));
  // One token more: the tiled product, which code_row_product refuses.
  const at::Tensor longer = at::randn({limit + 1, 256});
  EXPECT_FALSE(code_row_product_applies(limit + 1, weights));
  EXPECT_TRUE(oft::test::close(layer.forward(longer),
                               at::linear(longer, layer.dequantize().to(at::kFloat), state.bias.to(at::kFloat)), 1e-5,
                               "tiled forward vs x · dequantized W^T"));
}

TEST(HqqCodeRowProduct, RefusesWhatDoesNotApply) {
  const PackedLayer layer = random_layer("4bit_u8", at::kHalf);
  try {
    code_row_product(at::randn({kCodeRowProductMaxTokens16Lanes4Bit + 1, layer.in}), layer.weights(at::kHalf));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find("does not apply to " + std::to_string(kCodeRowProductMaxTokens16Lanes4Bit + 1) +
                                   " tokens of a 4bit_u8 layer with Half steps"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace oft::hqq::test
