// Reading GPTQModel's checkpoints (tests/golden/gen_gptq.py, GPTQModel 7.7.0 on CPU): 2/3/4/8 bits,
// group sizes 32/64/128/-1, act-order, sym/asym, v1 and v2 zero points. Integer codes, zero points,
// packed words and the fp16 dequantized weight must match exactly; the forward within 2e-3 of the
// largest output (the library computes in fp16 on CPU, we in fp32 from the same fp16 weight).
#include "gptq_format.h"
#include "gptq_packing.h"
#include "gptq_test_data.h"

namespace oft::gptq::test {
namespace {

TEST(GptqGolden, ConfigFromGptqModelMatchesTheCase) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.config.bits, c.meta.at("bits").get<int>());
    EXPECT_EQ(c.config.group_size, c.meta.at("group_size").get<int64_t>());
    EXPECT_EQ(c.config.desc_act, c.meta.at("desc_act").get<bool>());
    EXPECT_EQ(c.config.sym, c.meta.at("sym").get<bool>());
    EXPECT_EQ(c.config.checkpoint_format,
              c.meta.at("checkpoint_format") == "gptq" ? CheckpointFormat::V1 : CheckpointFormat::V2);
  }
}

TEST(GptqGolden, UnpacksCodesAndZeroPointsExactly) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const int bits = c.config.bits;
    EXPECT_TRUE(at::equal(unpack_rows(c.get("qweight"), bits).to(at::kLong), c.get("codes").to(at::kLong)));
    EXPECT_TRUE(at::equal(decode_zeros(c.get("qzeros"), bits, c.config.checkpoint_format).to(at::kLong),
                          c.get("zeros").to(at::kLong)));
  }
}

TEST(GptqGolden, PacksToGptqModelsWordsExactly) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const int bits = c.config.bits;
    EXPECT_TRUE(at::equal(pack_rows(c.get("codes"), bits), c.get("qweight")));
    EXPECT_TRUE(at::equal(encode_zeros(c.get("zeros"), bits, c.config.checkpoint_format), c.get("qzeros")));
  }
}

TEST(GptqGolden, AsymmetricV1CasesIncludeZeroPointZero) {
  // Zero point 0 is stored as -1 in v1: GPTQModel's whole-word export borrows from the next field,
  // which only the matching whole-word decode undoes. Guard that the data still covers it.
  int64_t zero_points_zero = 0;
  for (const auto& c : golden_cases())
    if (!c.config.sym && c.config.checkpoint_format == CheckpointFormat::V1 && c.config.bits != 3)
      zero_points_zero += (c.get("zeros") == 0).sum().item<int64_t>();
  EXPECT_GT(zero_points_zero, 0);
}

TEST(GptqGolden, LoadedLayerDequantizesAndComputesLikeGptqModel) {
  GptqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    sdk::TensorMap tensors = checkpoint_tensors(c);
    ASSERT_TRUE(format.recognizes(tensors, c.quantization_config));
    auto layer = format.load(tensors, golden_shape(), c.quantization_config);
    EXPECT_EQ(layer->format(), "gptq");
    EXPECT_EQ(layer->compute_dtype(), at::kHalf);
    at::Tensor dequant = layer->dense_weight();
    EXPECT_EQ(dequant.scalar_type(), at::kHalf);
    EXPECT_TRUE(at::equal(dequant, c.get("dequant")));
    at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), at::kHalf);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), 2e-3, "forward"));
  }
}

TEST(GptqGolden, SaveWritesBackTheCheckpointTensors) {
  GptqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    sdk::TensorMap tensors = checkpoint_tensors(c);
    auto layer = format.load(tensors, golden_shape(), c.quantization_config);
    sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), tensors.size());
    for (const auto& [name, tensor] : tensors) EXPECT_TRUE(at::equal(saved.at(name), tensor)) << name;
    std::vector<std::string> buffers;
    for (const auto& item : layer->named_buffers()) buffers.push_back(item.key());
    EXPECT_EQ(buffers, (std::vector<std::string>{"qweight", "qzeros", "scales", "g_idx", "bias"}));
  }
}

TEST(GptqGolden, CachedWeightGivesTheSameOutputAndFollowsInPlaceChanges) {
  const auto c = golden_cases().front();
  GptqFormat caching(/*cache_dequantized=*/true);
  auto layer =
      std::dynamic_pointer_cast<GptqLinear>(caching.load(checkpoint_tensors(c), golden_shape(), c.quantization_config));
  at::Tensor x = c.get("x");
  at::Tensor first = layer->forward(x);
  EXPECT_TRUE(at::equal(layer->forward(x), first));
  layer->scales().mul_(2);  // a changed tensor must not be served from the cache
  EXPECT_TRUE(
      oft::test::close(layer->forward(x) - layer->bias(), (first - layer->bias()) * 2, 2e-3, "after scales *= 2"));
}

// The zero points are decoded once and kept while qzeros is unchanged: an in-place write must be seen.
TEST(GptqGolden, DecodedZerosFollowInPlaceChangesOfQzeros) {
  const auto c = golden_cases().front();
  GptqFormat format;
  auto layer =
      std::dynamic_pointer_cast<GptqLinear>(format.load(checkpoint_tensors(c), golden_shape(), c.quantization_config));
  const at::Tensor x = c.get("x");
  const at::Tensor first = layer->forward(x);
  layer->qzeros().bitwise_xor_(0x11111111);  // every packed zero point +-1
  sdk::TensorMap changed = checkpoint_tensors(c);
  changed["qzeros"] = layer->qzeros().clone();
  const at::Tensor expected = format.load(changed, golden_shape(), c.quantization_config)->forward(x);
  EXPECT_FALSE(at::equal(expected, first));
  EXPECT_TRUE(at::equal(layer->forward(x), expected));
}

// Layers loaded under c10::InferenceMode hold inference tensors, which have no version counter: the caches keep
// nothing then, and forward gives the same output, with and without cache_dequantized.
TEST(GptqGolden, LayersOfInferenceTensorsRun) {
  const auto c = golden_cases().front();
  const at::Tensor x = c.get("x");
  for (const bool cache : {false, true}) {
    SCOPED_TRACE(cache ? "cache_dequantized" : "no weight cache");
    GptqFormat format(cache);
    const at::Tensor expected = format.load(checkpoint_tensors(c), golden_shape(), c.quantization_config)->forward(x);
    const c10::InferenceMode inference;
    sdk::TensorMap tensors = checkpoint_tensors(c);
    for (auto& entry : tensors) entry.second = entry.second.clone();
    auto layer = std::dynamic_pointer_cast<GptqLinear>(format.load(tensors, golden_shape(), c.quantization_config));
    ASSERT_TRUE(layer->qzeros().is_inference());
    EXPECT_TRUE(at::equal(layer->forward(x), expected));
    EXPECT_TRUE(at::equal(layer->forward(x), expected));
  }
}

}  // namespace
}  // namespace oft::gptq::test
