// The operator path (aqlm_dequant_operators.h), which serves layers off the CPU, run on CPU tensors: bit for bit the
// CPU kernels' dequantized weight (aqlm_dequant_rows.h, through AqlmLinear::dequantize) for aqlm's golden layers,
// random codebooks of every layout kind and dtype (with -0 codewords and bf16 ties), and natively quantized weights.
// The codeword sums are added codebook by codebook from 0 as the kernels add them; another order gives other bits,
// which the tests would see (checked). A layer on another device cannot be made on a CPU-only machine; the `meta`
// device stands in for one to check the dispatch: its dense weight and forward take the operator path (the CPU
// kernels refuse tensors off the CPU), and an input on another device than the layer's is an error naming both.
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "aqlm_codes.h"
#include "aqlm_dequant_operators.h"
#include "aqlm_format.h"
#include "aqlm_test_data.h"

namespace oft::aqlm::test {
namespace {

// Equal bits (so also the signs of zeros).
::testing::AssertionResult bitwise_equal(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.scalar_type() != expected.scalar_type() || actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "dtype or shape differ";
  if (at::equal(actual.contiguous().view(at::kByte), expected.contiguous().view(at::kByte)))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max difference "
                                       << (actual.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<float>();
}

at::Tensor by_operators(const AqlmLinear& layer) {
  return dequantize_by_operators(layer.codes(), layer.config().nbits_per_codebook, layer.codebooks(), layer.scales());
}

TEST(AqlmDequantOperators, GoldenLayersGiveTheCpuKernelsBits) {
  for (const char* file : {"aqlm_layers", "aqlm_oft"})
    for (const auto& c : golden_cases(file)) {
      SCOPED_TRACE(std::string(file) + " " + c.name);
      auto layer =
          std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config));
      const at::Tensor w = by_operators(*layer);
      EXPECT_TRUE(bitwise_equal(w, layer->dequantize()));
      if (c.has("dequant")) {
        EXPECT_TRUE(bitwise_equal(w, c.get("dequant"))) << "aqlm's _dequantize_weight";
      }
    }
}

// Random codes, codebooks and scales of `dtype`; the first codewords of every codebook hold -0 and values whose sum
// is a bf16 tie (with two codebooks or more: one bf16 value cannot be one), and the first code tuple names them.
std::shared_ptr<AqlmLinear> layer_with_random_codebooks(const CodebookLayout& l, c10::ScalarType dtype) {
  const int64_t out = 8 * l.out_group, in = 12 * l.in_group;
  const AqlmConfig config = config_of(l);
  const int64_t q = config.codebook_size();
  at::Tensor codes = at::randint(q, {out / l.out_group, in / l.in_group, l.codebooks}, at::kLong);
  codes[0][0].fill_(0);
  at::Tensor books = at::randn({l.codebooks, q, l.out_group, l.in_group});
  for (int64_t c = 0; c < l.codebooks; ++c) {
    books[c][0].view(-1)[0] = -0.f;
    books[c][0].view(-1)[1] = c == 0 ? 1.f : (c == 1 ? 0.00390625f : 0.f);  // with 2 codebooks or more: sum 1 + 2^-8
  }
  const at::Tensor scales = at::rand({out / l.out_group, 1, 1, 1}) + 0.5;
  return make_layer(AqlmWeights{codes, books.to(dtype), scales.to(dtype)}, at::Tensor(), config);
}

// 1x16, 2x8 in groups of 8 and 16, output groups of 2 and 4, input groups of 2 and 3 (the kernels' one lane), and
// three and four codebooks, whose sums' order shows in fp32.
const CodebookLayout kCodebookLayouts[] = {{1, 16, 1, 8}, {2, 8, 1, 8}, {2, 8, 1, 16}, {1, 8, 2, 4},
                                           {3, 6, 4, 2},  {4, 4, 1, 8}, {2, 10, 2, 8}, {3, 5, 1, 3}};

TEST(AqlmDequantOperators, RandomCodebooksOfEveryLayoutAndDtypeGiveTheCpuKernelsBits) {
  for (const CodebookLayout& l : kCodebookLayouts)
    for (c10::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(layout_name(l) + ", " + c10::toString(dtype));
      at::manual_seed(l.nbits * 10 + l.in_group);
      const auto layer = layer_with_random_codebooks(l, dtype);
      const at::Tensor w = by_operators(*layer);
      EXPECT_EQ(w.scalar_type(), dtype);
      EXPECT_TRUE(bitwise_equal(w, layer->dequantize()));
    }
}

TEST(AqlmDequantOperators, AnotherSummationOrderGivesOtherBits) {
  // What the tests above would see if the operators summed the codebooks in another order: 4 fp32 codebooks, summed
  // from the last one, differ from the kernels in some weights.
  at::manual_seed(5);
  const auto layer = layer_with_random_codebooks({4, 4, 1, 8}, at::kFloat);
  const at::Tensor codes = layer->unpacked_codes();
  const at::Tensor reversed = dequantize_by_operators(pack_codes(codes.flip(2), 4), 4,
                                                      layer->codebooks().flip(0).contiguous(), layer->scales());
  EXPECT_TRUE(at::allclose(reversed, layer->dequantize(), 1e-5, 1e-6)) << "the same weights but for rounding";
  EXPECT_FALSE(bitwise_equal(reversed, layer->dequantize()));
}

TEST(AqlmDequantOperators, NativelyQuantizedWeightsGiveTheCpuKernelsBits) {
  at::manual_seed(6);
  const at::Tensor weight = at::randn({32, 64}) * 0.1;
  for (const char* options : {R"({"num_codebooks": 2, "nbits_per_codebook": 6, "in_group_size": 8, "epochs": 1})",
                              R"({"num_codebooks": 1, "nbits_per_codebook": 8, "in_group_size": 4,
                                  "out_group_size": 2, "epochs": 1})"})
    for (c10::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(std::string(options) + ", " + c10::toString(dtype));
      const auto layer = std::dynamic_pointer_cast<AqlmLinear>(
          AqlmFormat().quantize(weight.to(dtype), at::randn({32}).to(dtype), options, at::Tensor()));
      EXPECT_TRUE(bitwise_equal(by_operators(*layer), layer->dense_weight()));
    }
}

// The layer's tensors on `meta` (no data), where the CPU kernels refuse to run.
std::shared_ptr<AqlmLinear> layer_on_meta(const GoldenCase& c) {
  sdk::TensorMap tensors = c.checkpoint();
  for (auto& item : tensors) item.second = item.second.to(at::kMeta);
  return std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().load(tensors, c.shape, c.quantization_config));
}

TEST(AqlmDequantOperators, ALayerOffTheCpuTakesTheOperatorPath) {
  for (const auto& c : golden_cases("aqlm_layers")) {
    SCOPED_TRACE(c.name);
    const auto layer = layer_on_meta(c);
    const at::Tensor w = layer->dense_weight();
    EXPECT_TRUE(w.is_meta());
    EXPECT_EQ(w.scalar_type(), layer->codebooks().scalar_type());
    EXPECT_EQ(w.sizes(), at::IntArrayRef({c.shape.out_features, c.shape.in_features}));
    for (bool cached : {false, true}) {
      layer->set_cache_dequantized(cached);
      for (int64_t tokens : {1, 20, 200})  // the CPU's codeword, tiled and whole-weight paths
        for (c10::ScalarType dtype : {at::kFloat, layer->codebooks().scalar_type()}) {
          const at::Tensor y =
              layer->forward(at::empty({tokens, c.shape.in_features}, at::device(at::kMeta).dtype(dtype)));
          EXPECT_TRUE(y.is_meta());
          EXPECT_EQ(y.scalar_type(), dtype);
          EXPECT_EQ(y.sizes(), at::IntArrayRef({tokens, c.shape.out_features}));
        }
    }
    try {
      layer->forward(at::randn({2, c.shape.in_features}));
      ADD_FAILURE() << "an input on the CPU was taken";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "aqlm: input is on cpu, the layer's tensors on meta");
    }
  }
}

}  // namespace
}  // namespace oft::aqlm::test
