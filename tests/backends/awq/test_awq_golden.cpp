// Reading GPTQModel's AWQ checkpoints (tests/golden/gen_awq.py, GPTQModel 7.7.0 on CPU): gemm at 2/3/4/8
// bits, group sizes 32/64/128/-1, zero_point true and false, and the 4-bit gemv layout. Zero points,
// packed words, the fp16 dequantized weight and round-to-nearest's checkpoint must match exactly; the
// forward within 2e-3 of the largest output (AwqTorchLinear multiplies in fp16 on CPU, we in fp32 from
// the same fp16 weight).
#include "awq_format.h"
#include "awq_packing.h"
#include "awq_test_data.h"

namespace oft::awq::test {
namespace {

TEST(AwqGolden, ConfigFromTransformersMatchesTheCase) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.config.bits, c.meta.at("bits").get<int>());
    EXPECT_EQ(c.config.group_size, c.meta.at("group_size").get<int64_t>());
    EXPECT_EQ(c.config.zero_point, c.meta.at("zero_point").get<bool>());
    EXPECT_EQ(c.config.layout, c.meta.at("format") == "gemm" ? Layout::Gemm : Layout::Gemv);
    // transformers writes sym true whatever zero_point says: it must not decide anything.
    EXPECT_TRUE(c.meta.at("quantization_config").at("sym").get<bool>());
  }
}

TEST(AwqGolden, PackingFollowsTheFormatsTestVectors) {
  // AutoAWQ's packing: columns [0..7] -> 0x75316420 (ORDER interleave); [3,14,0,7,9,1,15,8] -> 0x817EF903.
  EXPECT_EQ(pack_gemm(at::arange(8).view({1, 8}), 4).item<int32_t>(), 1966171168);
  EXPECT_EQ(pack_gemm(at::tensor({3, 14, 0, 7, 9, 1, 15, 8}, at::kLong).view({1, 8}), 4).item<int32_t>(), -2122385149);
  EXPECT_TRUE(at::equal(unpack_gemm(at::tensor({-2122385149}, at::kInt).view({1, 1}), 4, 8).to(at::kLong),
                        at::tensor({3, 14, 0, 7, 9, 1, 15, 8}, at::kLong).view({1, 8})));
  // gemv: sequential nibbles, 0x76543210 -> inputs 0..7.
  EXPECT_TRUE(at::equal(unpack_sequential4(at::tensor({0x76543210}, at::kInt).view({1, 1})).to(at::kLong),
                        at::arange(8).view({1, 8})));
}

TEST(AwqGolden, UnpacksZeroPointsExactly) {
  AwqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    auto layer =
        std::dynamic_pointer_cast<AwqLinear>(format.load(checkpoint_tensors(c), c.shape, c.quantization_config));
    EXPECT_TRUE(at::equal(layer->zeros(), c.get("zeros")));
    if (!c.config.zero_point) {
      EXPECT_TRUE((c.get("zeros") == (1 << (c.config.bits - 1))).all().item<bool>());
    }
  }
}

TEST(AwqGolden, RepacksToTheLibrarysWordsExactly) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const int bits = c.config.bits;
    const int64_t n = c.shape.out_features;
    if (c.config.layout == Layout::Gemm) {
      EXPECT_TRUE(at::equal(pack_gemm(unpack_gemm(c.get("qweight"), bits, n), bits), c.get("qweight")));
      EXPECT_TRUE(at::equal(pack_gemm(c.get("zeros"), bits), c.get("qzeros")));
    } else {
      EXPECT_TRUE(at::equal(pack_sequential4(unpack_sequential4(c.get("qweight"))), c.get("qweight")));
      EXPECT_TRUE(at::equal(pack_sequential4(unpack_sequential4(c.get("qzeros"))), c.get("qzeros")));
    }
  }
}

TEST(AwqGolden, LoadedLayerDequantizesAndComputesLikeGptqModel) {
  AwqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    sdk::TensorMap tensors = checkpoint_tensors(c);
    ASSERT_TRUE(format.recognizes(tensors, c.quantization_config));
    auto layer = format.load(tensors, c.shape, c.quantization_config);
    EXPECT_EQ(layer->format(), "awq");
    EXPECT_EQ(layer->compute_dtype(), at::kHalf);
    at::Tensor dequant = layer->dense_weight();
    EXPECT_EQ(dequant.scalar_type(), at::kHalf);
    EXPECT_TRUE(at::equal(dequant, c.get("dequant")));
    if (!c.file->has(c.name + "/y")) continue;  // gemv: GPTQModel's forward is CUDA-only
    at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), at::kHalf);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), 2e-3, "forward"));
  }
}

TEST(AwqGolden, RoundToNearestWritesTheLibrarysCheckpoint) {
  // The gemm cases were quantized from this fp16 weight by AWQProcessor.pseudo_quantize_tensor and packed
  // by AwqTorchLinear.pack: our round-to-nearest and packer must give the same tensors.
  const at::Tensor w = golden_layers().get("weight");
  for (const auto& c : golden_cases()) {
    if (c.config.layout != Layout::Gemm) continue;
    SCOPED_TRACE(c.name);
    auto layer = make_layer(quantize_rtn(w, c.config, at::kHalf), c.get("bias"), c.config);
    EXPECT_TRUE(at::equal(layer->qweight(), c.get("qweight")));
    EXPECT_TRUE(at::equal(layer->qzeros(), c.get("qzeros")));
    EXPECT_TRUE(at::equal(layer->scales(), c.get("scales")));
  }
}

TEST(AwqGolden, SaveWritesBackTheCheckpointTensors) {
  AwqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    sdk::TensorMap tensors = checkpoint_tensors(c);
    auto layer = format.load(tensors, c.shape, c.quantization_config);
    sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), tensors.size());
    for (const auto& [name, tensor] : tensors) EXPECT_TRUE(at::equal(saved.at(name), tensor)) << name;
    std::vector<std::string> buffers;
    for (const auto& item : layer->named_buffers()) buffers.push_back(item.key());
    EXPECT_EQ(buffers, (std::vector<std::string>{"qweight", "qzeros", "scales", "bias"}));
  }
}

TEST(AwqGolden, CachedWeightGivesTheSameOutputAndFollowsInPlaceChanges) {
  const auto c = golden_cases().front();
  auto layer = std::dynamic_pointer_cast<AwqLinear>(
      AwqFormat(/*cache_dequantized=*/true).load(checkpoint_tensors(c), c.shape, c.quantization_config));
  const at::Tensor x = c.get("x");
  const at::Tensor first = layer->forward(x);
  EXPECT_TRUE(at::equal(layer->forward(x), first));
  EXPECT_TRUE(oft::test::close(first, c.get("y"), 2e-3, "cached forward"));
  layer->scales().mul_(2);  // a changed tensor must not be served from the cache
  EXPECT_TRUE(
      oft::test::close(layer->forward(x) - layer->bias(), (first - layer->bias()) * 2, 2e-3, "after scales *= 2"));
}

}  // namespace
}  // namespace oft::awq::test
