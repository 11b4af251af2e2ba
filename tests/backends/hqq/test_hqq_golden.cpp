// Reading hqq's checkpoints (tests/golden/gen_hqq.py, hqq 0.2.8.post1 on CPU): 1, 1.58, 2, 3, 4 and
// 8 bits, axis 0 and 1, group sizes 16..128, fp16/bf16/fp32 compute dtypes, view_as_float. The packed
// codes, the dequantized weight and the re-encoded state dict must match hqq exactly; the forward within
// the compute dtype's rounding (hqq multiplies in the compute dtype, we in fp32 from the same weight):
// 1e-5 for fp32, 2e-3 for fp16, 1.6e-2 for bf16 (relative to the largest output).
#include <nlohmann/json.hpp>

#include "hqq_format.h"
#include "hqq_linear.h"
#include "hqq_packing.h"
#include "hqq_test_data.h"

namespace oft::hqq::test {
namespace {

double forward_tolerance(at::ScalarType dtype) {
  return dtype == at::kFloat ? 1e-5 : dtype == at::kHalf ? 2e-3 : 1.6e-2;
}

at::Tensor bytes(std::vector<int64_t> values, at::ScalarType dtype = at::kByte) {
  return at::tensor(values, at::kLong).to(dtype);
}

TEST(HqqPacking, MatchesTheFormatsWorkedExamples) {
  // hqq's bitpack: the first plane sits in the most significant bits.
  EXPECT_TRUE(at::equal(pack(bytes({1, 2, 3, 4, 5, 6, 7, 8}).reshape({4, 2}), "4bit_u8"),
                        bytes({0x15, 0x26, 0x37, 0x48}).reshape({2, 2})));
  EXPECT_TRUE(
      at::equal(pack(bytes({0, 1, 2, 3, 3, 2, 1, 0}).reshape({8, 1}), "2bit_u8"), bytes({0x2D, 0x78}).reshape({2, 1})));
  EXPECT_TRUE(at::equal(pack(bytes({1, 2, 3, 4, 5, 6, 7, 0, 1, 2}).reshape({10, 1}), "3bit_32"),
                        bytes({175304202}, at::kInt).reshape({1, 1})));
  EXPECT_TRUE(
      at::equal(pack(bytes({1, 0, 1, 1, 0, 0, 0, 1}).reshape({8, 1}), "1bit_u8"), bytes({0xB1}).reshape({1, 1})));
  // 3-bit pads the rows to a multiple of 10, unpack returns the padding.
  at::Tensor codes = bytes({7, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4}).reshape({12, 1});
  at::Tensor packed = pack(codes, "3bit_32");
  EXPECT_EQ(packed.sizes(), (at::IntArrayRef{2, 1}));
  EXPECT_TRUE(at::equal(unpack(packed, "3bit_32", at::kByte).slice(0, 0, 12), codes));
  EXPECT_EQ(unpack(packed, "3bit_32", at::kByte).slice(0, 12).sum().item<int64_t>(), 0);
}

TEST(HqqGolden, QuantizationConfigReadsAndWritesHqqConfigToDict) {
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_DOUBLE_EQ(c.settings.nbits, c.meta.at("nbits").get<double>());
    EXPECT_EQ(c.settings.group_size, c.meta.at("group_size").get<int64_t>());
    EXPECT_EQ(c.settings.axis, c.meta.at("axis").get<int>());
    EXPECT_EQ(c.settings.view_as_float, c.meta.at("view_as_float").get<bool>());
    EXPECT_EQ(nlohmann::json::parse(c.settings.to_quantization_config()), c.meta.at("quantization_config"));
    nlohmann::json options{{"nbits", c.meta.at("nbits")},
                           {"group_size", c.settings.group_size},
                           {"axis", c.settings.axis},
                           {"view_as_float", c.settings.view_as_float}};
    EXPECT_EQ(nlohmann::json::parse(HqqFormat().quantization_config(options.dump())), c.meta.at("quantization_config"));
  }
}

TEST(HqqGolden, LoadedLayerDequantizesExactlyAndComputesLikeHqq) {
  HqqFormat format;
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap state = c.state();
    ASSERT_TRUE(format.recognizes(state, c.quantization_config));
    ASSERT_TRUE(format.recognizes(state, ""));  // the layer describes itself
    auto layer = format.load(state, golden_shape(), c.quantization_config);
    EXPECT_EQ(layer->format(), "hqq");
    EXPECT_EQ(layer->compute_dtype(), c.compute_dtype);
    EXPECT_EQ(layer->in_features(), 64);
    EXPECT_EQ(layer->out_features(), 16);
    const at::Tensor dequant = layer->dense_weight();
    EXPECT_EQ(dequant.scalar_type(), c.compute_dtype);
    EXPECT_TRUE(at::equal(dequant, c.get("dequant")));
    const at::Tensor y = layer->forward(c.get("x"));
    EXPECT_EQ(y.scalar_type(), c.compute_dtype);
    EXPECT_TRUE(oft::test::close(y, c.get("y"), forward_tolerance(c.compute_dtype), "forward"));
    RecordProperty(c.name + "_forward_rel_err", std::to_string(oft::test::relative_error(y, c.get("y"))));
  }
}

TEST(HqqGolden, CodesPackBackToHqqsWords) {
  HqqFormat format;
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    auto layer = std::dynamic_pointer_cast<HqqLinear>(format.load(c.state(), golden_shape(), ""));
    const at::Tensor codes = layer->codes();
    EXPECT_EQ(codes.size(0), layer->meta().rows);
    EXPECT_LE(codes.max().item<double>(), static_cast<double>(max_code(c.settings.nbits)));
    at::Tensor w_q = c.get("state/W_q");
    if (c.settings.view_as_float) w_q = w_q.view(packed_dtype(layer->meta().packing));
    EXPECT_TRUE(at::equal(pack(codes, layer->meta().packing), w_q));
  }
}

TEST(HqqGolden, SaveWritesBackHqqsStateDict) {
  HqqFormat format;
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    const sdk::TensorMap state = c.state();
    auto layer = format.load(state, golden_shape(), c.quantization_config);
    const sdk::TensorMap saved = format.save(*layer);
    ASSERT_EQ(saved.size(), state.size());
    for (const auto& [name, tensor] : state) {
      ASSERT_TRUE(saved.count(name)) << name;
      EXPECT_EQ(saved.at(name).scalar_type(), tensor.scalar_type()) << name;
      EXPECT_EQ(saved.at(name).sizes(), tensor.sizes()) << name;
      // Bytes, not values, for float tensors: a float view of packed codes may hold NaN patterns.
      const bool as_bytes = at::isFloatingType(tensor.scalar_type()) && tensor.dim() > 0;
      EXPECT_TRUE(as_bytes ? at::equal(saved.at(name).contiguous().view(at::kByte), tensor.contiguous().view(at::kByte))
                           : at::equal(saved.at(name), tensor))
          << name;
    }
    std::vector<std::string> buffers;
    for (const auto& item : layer->named_buffers()) buffers.push_back(item.key());
    EXPECT_EQ(buffers, (std::vector<std::string>{"W_q", "scale", "zero", "bias"}));
  }
}

TEST(HqqGolden, CachedWeightGivesTheSameOutputAndFollowsInPlaceChanges) {
  const auto c = layer_cases().front();
  auto plain = HqqFormat().load(c.state(), golden_shape(), "");
  auto cached =
      std::dynamic_pointer_cast<HqqLinear>(HqqFormat(/*cache_dequantized=*/true).load(c.state(), golden_shape(), ""));
  const at::Tensor x = c.get("x"), bias = cached->state().bias;
  const at::Tensor first = cached->forward(x);
  EXPECT_TRUE(at::equal(first, plain->forward(x)));
  EXPECT_TRUE(at::equal(cached->forward(x), first));
  cached->state().scale.mul_(2);  // a changed tensor must not be served from the cache
  EXPECT_TRUE(oft::test::close(cached->forward(x) - bias, (first - bias) * 2, 2e-3, "after scale *= 2"));
}

}  // namespace
}  // namespace oft::hqq::test
