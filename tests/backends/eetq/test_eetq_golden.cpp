// Reading EETQ checkpoints against the format-derived golden data (tests/golden/gen_eetq.py): the arch-80
// layout is undone to the generator's plain codes and redone to its bytes exactly, the dequantized weight is
// codes x scales exactly, and the forward matches the generator's within 1e-5 of the largest output for fp32
// and 2e-3 (about one fp16 ulp) for fp16 (same values, different summation order). The layout is also checked
// against hand-computed byte offsets of the closed form, which do not come from the generator.
#include "eetq_format.h"
#include "eetq_layout.h"
#include "eetq_test_data.h"

namespace oft::eetq::test {
namespace {

TEST(EetqGolden, LayoutPutsCodesWhereTheSpecSays) {
  // Closed-form offsets, K = N = 64: (k, n) -> byte offset.
  const at::Tensor offsets64 = arch80_byte_offsets(64, 64);
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> vectors{{0, 0, 0},   {1, 0, 2},   {8, 0, 1},     {2, 0, 4},
                                                                   {4, 0, 8},   {16, 0, 16}, {63, 0, 63},   {0, 1, 64},
                                                                   {0, 2, 128}, {5, 3, 202}, {63, 63, 4095}};
  for (const auto& [k, n, offset] : vectors) EXPECT_EQ(offsets64[k][n].item<int64_t>(), offset) << k << ", " << n;
  // Every byte is used once, and the tile-wise conversion puts each code at its closed-form offset.
  for (auto [k, n] : {std::pair<int64_t, int64_t>{64, 64}, {128, 192}, {256, 128}}) {
    SCOPED_TRACE(std::to_string(k) + " x " + std::to_string(n));
    const at::Tensor offsets = arch80_byte_offsets(k, n).flatten();
    EXPECT_TRUE(at::equal(std::get<0>(offsets.sort()), at::arange(k * n, at::kLong)));
    const at::Tensor codes = at::randint(-128, 128, {k, n}, at::kChar);
    const at::Tensor stored = to_arch80_layout(codes);
    EXPECT_TRUE(at::equal(stored.flatten().index_select(0, offsets).view({k, n}).bitwise_xor(-128), codes));
    EXPECT_TRUE(at::equal(from_arch80_layout(stored), codes));
  }
  // Bytes: (q + 128) mod 256 (-128 -> 0x00, -3 -> 0x7D, 0 -> 0x80, 127 -> 0xFF).
  for (auto [code, byte] : {std::pair<int, int>{-128, 0x00}, {-3, 0x7D}, {0, 0x80}, {127, 0xFF}}) {
    const at::Tensor stored = to_arch80_layout(at::full({64, 64}, code, at::kChar)).view(at::kByte);
    EXPECT_TRUE(at::equal(stored, at::full({64, 64}, byte, at::kByte))) << code;
  }
}

TEST(EetqGolden, UndoesAndRedoesTheLayoutExactly) {
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(at::equal(from_arch80_layout(c.get("weight")), c.get("codes")));
    EXPECT_TRUE(at::equal(to_arch80_layout(c.get("codes")), c.get("weight")));
    EXPECT_FALSE(at::equal(c.get("weight"), c.get("codes")));
  }
}

TEST(EetqGolden, LoadedLayerDequantizesAndComputesLikeTheFormat) {
  EetqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap tensors = checkpoint_tensors(c);
    ASSERT_TRUE(format.recognizes(tensors, c.quantization_config));
    auto layer = format.load(tensors, c.shape, c.quantization_config);
    EXPECT_EQ(layer->format(), "eetq");
    const at::ScalarType dtype = c.get("weight_scales").scalar_type();
    EXPECT_EQ(layer->compute_dtype(), dtype);
    const at::Tensor expected = (c.get("codes").to(at::kDouble) * c.get("weight_scales").to(at::kDouble)).t().to(dtype);
    const at::Tensor dequant = layer->dense_weight();
    EXPECT_EQ(dequant.scalar_type(), dtype);
    EXPECT_TRUE(at::equal(dequant, expected));
    const at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), dtype);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), dtype == at::kHalf ? 2e-3 : 1e-5, "forward"));
  }
}

TEST(EetqGolden, SaveWritesBackTheCheckpointBytes) {
  EetqFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap tensors = checkpoint_tensors(c);
    auto layer = format.load(tensors, c.shape, c.quantization_config);
    const sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), tensors.size());
    for (const auto& [name, tensor] : tensors) {
      EXPECT_EQ(saved.at(name).scalar_type(), tensor.scalar_type()) << name;
      EXPECT_TRUE(at::equal(saved.at(name), tensor)) << name;
    }
    // The layer holds the plain codes under the checkpoint's names.
    std::vector<std::string> buffers;
    for (const auto& item : layer->named_buffers()) buffers.push_back(item.key());
    std::vector<std::string> expected{"weight", "weight_scales"};
    if (c.shape.bias) expected.push_back("bias");
    EXPECT_EQ(buffers, expected);
    EXPECT_TRUE(at::equal(layer->named_buffers()["weight"], c.get("codes")));
  }
}

TEST(EetqGolden, CachedWeightGivesTheSameOutputAndFollowsInPlaceChanges) {
  const auto c = golden_cases().front();
  EetqFormat caching(/*cache_dequantized=*/true);
  auto layer = caching.load(checkpoint_tensors(c), c.shape, c.quantization_config);
  const at::Tensor x = c.get("x");
  const at::Tensor first = layer->forward(x);
  // The uncached layer takes the few-token paths, which sum in another order than one GEMM over the cached
  // weight (the order also changes with the CPU's GEMM kernels): equal up to a float16 rounding step.
  EXPECT_TRUE(oft::test::close(
      first.to(at::kFloat),
      EetqFormat().load(checkpoint_tensors(c), c.shape, c.quantization_config)->forward(x).to(at::kFloat), 2e-3,
      "cached vs uncached"));
  EXPECT_TRUE(at::equal(layer->forward(x), first));
  // A changed tensor must not be served from the cache (merging changes codes and scales in place).
  layer->named_buffers()["weight_scales"].mul_(2);
  const at::Tensor bias = c.get("bias").to(at::kFloat);
  EXPECT_TRUE(oft::test::close(layer->forward(x).to(at::kFloat) - bias, (first.to(at::kFloat) - bias) * 2, 2e-3,
                               "after weight_scales *= 2"));
}

}  // namespace
}  // namespace oft::eetq::test
