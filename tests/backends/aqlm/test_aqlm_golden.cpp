// The aqlm layer against the real aqlm package (tests/golden/gen_aqlm.py): code storage and decoding
// (pack_int_data / unpack_int_data), dequantization (_dequantize_weight on CPU: bit-exact), forward
// (dequantize_gemm, and QuantizedLinear's own forward where it runs on CPU), the config, and save/load.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "aqlm_codes.h"
#include "aqlm_format.h"
#include "aqlm_test_data.h"

namespace oft::aqlm::test {
namespace {

TEST(AqlmCodes, SignedStorageDecodesModuloTheCodebookSize) {
  // Signed storage: a code c of B bits is stored as the signed integer with the same low B bits.
  const at::Tensor int16 = at::tensor({-1, -32768, 5}, at::kShort);
  EXPECT_TRUE(at::equal(unpack_codes(int16, 16), at::tensor({65535, 32768, 5}, at::kLong)));
  const at::Tensor int8 = at::tensor({-128, -1, 127}, at::kChar);
  EXPECT_TRUE(at::equal(unpack_codes(int8, 8), at::tensor({128, 255, 127}, at::kLong)));
  EXPECT_TRUE(at::equal(pack_codes(at::tensor({128, 255, 127}, at::kLong), 8), int8));
  EXPECT_TRUE(at::equal(unpack_codes(at::tensor({-32, 31}, at::kChar), 6), at::tensor({32, 31}, at::kLong)));
  EXPECT_EQ(code_dtype(8), at::kChar);
  EXPECT_EQ(code_dtype(9), at::kShort);
}

TEST(AqlmCodes, ToyExampleSumsTheCodewordsTimesTheScale) {
  // A hand-worked toy case: C=2, B=2, og=1, ig=2; codes [1, 0], scale 2 -> 2 * ([0, 1] + [0.5, 0.5]) = [1, 3].
  const at::Tensor codebooks = at::tensor({1.f, 0.f, 0.f, 1.f, -1.f, 0.f, 0.f, -1.f,  //
                                           0.5f, 0.5f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f})
                                   .view({2, 4, 1, 2});
  const at::Tensor codes = at::tensor({1, 0}, at::kLong).view({1, 1, 2});
  const at::Tensor w = dequantize_float(codes, codebooks, at::full({1, 1, 1, 1}, 2.f));
  EXPECT_TRUE(at::equal(w, at::tensor({1.f, 3.f}).view({1, 2})));
}

TEST(AqlmGolden, CasesCoverTheStorageVariants) {
  const auto cases = golden_cases("aqlm_layers");
  ASSERT_GE(cases.size(), 6u);
  int negative_int16 = 0, negative_int8 = 0;
  for (const auto& c : cases) {
    const at::Tensor codes = c.get("codes");
    if (codes.lt(0).any().item<bool>()) (codes.scalar_type() == at::kShort ? negative_int16 : negative_int8)++;
  }
  EXPECT_GE(negative_int16, 1);  // the 1x16 case stores codes >= 32768 negative
  EXPECT_GE(negative_int8, 4);
}

TEST(AqlmGolden, ConfigIsReadFromAqlmConfigToDict) {
  for (const auto& c : golden_cases("aqlm_layers")) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.config.num_codebooks, c.meta.at("num_codebooks").get<int64_t>());
    EXPECT_EQ(c.config.nbits_per_codebook, c.meta.at("nbits_per_codebook").get<int64_t>());
    EXPECT_EQ(c.config.in_group_size, c.meta.at("in_group_size").get<int64_t>());
    EXPECT_EQ(c.config.out_group_size, c.meta.at("out_group_size").get<int64_t>());
    // Written back with the same keys and values as transformers' AqlmConfig.to_dict().
    EXPECT_EQ(nlohmann::json::parse(c.config.to_quantization_config()), c.meta.at("quantization_config"));
  }
}

TEST(AqlmGolden, DecodingAndDequantizationAreBitExact) {
  for (const auto& c : golden_cases("aqlm_layers")) {
    SCOPED_TRACE(c.name);
    auto layer =
        std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config));
    ASSERT_TRUE(layer);
    EXPECT_TRUE(at::equal(layer->unpacked_codes(), c.get("unpacked")));
    const at::Tensor w = layer->dequantize();
    EXPECT_EQ(w.scalar_type(), c.get("dequant").scalar_type());
    EXPECT_TRUE(at::equal(w, c.get("dequant")))
        << "max diff " << (w.to(at::kFloat) - c.get("dequant").to(at::kFloat)).abs().max();
  }
}

TEST(AqlmGolden, ForwardEqualsDequantizeGemm) {
  for (const auto& c : golden_cases("aqlm_layers")) {
    SCOPED_TRACE(c.name);
    auto layer = AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config);
    const at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), c.get("y").scalar_type());
    // aqlm's F.linear on CPU accumulates in fp32 and rounds once, as we do: equal up to the summation order
    // of the fp32 matmul (one ulp of the output dtype at most).
    const double tol = y.scalar_type() == at::kFloat ? 1e-6 : (y.scalar_type() == at::kHalf ? 1e-3 : 8e-3);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), tol, "forward vs dequantize_gemm"));
    if (c.has("y_module")) {
      EXPECT_TRUE(oft::test::close(y, c.get("y_module"), tol, "forward vs QuantizedLinear"));
    }
  }
}

TEST(AqlmGolden, CachedForwardAgreesWithUncachedAndFollowsInPlaceChanges) {
  const auto c = golden_cases("aqlm_layers").at(1);
  sdk::TensorMap own;  // the layer's own copies: the test changes them in place
  for (const auto& [name, tensor] : c.checkpoint()) own[name] = tensor.clone();
  auto layer = std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat(true).load(own, c.shape, c.quantization_config));
  const at::Tensor x = c.get("x");
  const at::Tensor first = layer->forward(x);
  EXPECT_TRUE(oft::test::close(first, c.get("y"), 1e-3, "cached layer vs dequantize_gemm"));
  EXPECT_TRUE(at::equal(layer->forward(x), first));  // from the cache
  // Without the cache a few tokens take the tiled product: the same weights, another GEMM order, so an output
  // may round to the neighbouring value of x's dtype (float16).
  ASSERT_EQ(x.scalar_type(), at::kHalf);
  EXPECT_TRUE(oft::test::close(AqlmFormat().load(c.checkpoint(), c.shape, c.quantization_config)->forward(x), first,
                               1e-3, "uncached vs cached"));
  at::Tensor codebooks = layer->codebooks();
  codebooks.mul_(2);  // an in-place change bumps the version: the cache refills
  auto fresh = AqlmFormat(true).load(c.checkpoint(), c.shape, c.quantization_config);
  EXPECT_FALSE(at::equal(layer->forward(x), fresh->forward(x)));
  codebooks.div_(2);
  EXPECT_TRUE(at::equal(layer->forward(x), fresh->forward(x)));
}

TEST(AqlmGolden, SaveWritesTheCheckpointTensorsBack) {
  AqlmFormat format;
  for (const auto& c : golden_cases("aqlm_layers")) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(format.recognizes(c.checkpoint(), c.quantization_config));
    auto layer = format.load(c.checkpoint(), c.shape, c.quantization_config);
    const sdk::TensorMap saved = format.save(*layer);
    const sdk::TensorMap original = c.checkpoint();
    ASSERT_EQ(saved.size(), original.size());
    for (const auto& [name, tensor] : original) {
      ASSERT_TRUE(saved.count(name)) << name;
      EXPECT_EQ(saved.at(name).scalar_type(), tensor.scalar_type()) << name;
      EXPECT_TRUE(at::equal(saved.at(name), tensor)) << name;
    }
  }
}

TEST(AqlmGolden, RecognizesOnlyAqlmCheckpoints) {
  AqlmFormat format;
  const auto c = golden_cases("aqlm_layers").front();
  EXPECT_TRUE(format.recognizes(c.checkpoint(), c.quantization_config));
  EXPECT_FALSE(format.recognizes(c.checkpoint(), R"({"quant_method": "gptq", "bits": 4})"));
  EXPECT_FALSE(format.recognizes(c.checkpoint(), ""));
  EXPECT_FALSE(format.recognizes({{"weight", at::zeros({4, 8})}}, c.quantization_config));
}

}  // namespace
}  // namespace oft::aqlm::test
