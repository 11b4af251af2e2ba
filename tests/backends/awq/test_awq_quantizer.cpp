// The native quantizer: AWQ's clipping search equals GPTQModel's AWQProcessor._compute_best_clip on
// golden data, and the searched layers beat round-to-nearest at the same bits and group size on the
// calibration inputs. Errors are ||X (W - Wq)^T|| / ||X W^T|| over the calibration inputs, measured
// on the packed layers (fp16 scales).
#include <cstdio>

#include "awq_format.h"
#include "awq_quantizer.h"
#include "awq_test_data.h"

namespace oft::awq::test {
namespace {

AwqConfig config_of(int bits, int64_t group_size, bool zero_point) {
  AwqConfig config;
  config.bits = bits;
  config.group_size = group_size;
  config.zero_point = zero_point;
  return config;
}

TEST(AwqQuantizer, ClipSearchChoosesGptqModelsBounds) {
  const auto& g = golden_clip();
  const at::Tensor w = g.get("weight").to(at::kFloat), x = g.get("input").to(at::kFloat);
  for (const auto& c : g.cases) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const at::Tensor expected = g.get(name + "/max_val");
    const at::Tensor bound = search_clip(w, x, config_of(c.at("bits"), c.at("group_size"), c.at("zero_point")));
    ASSERT_EQ(bound.sizes(), expected.sizes());
    // Same candidates, same errors up to float summation order: the same choice for every (row, group).
    EXPECT_TRUE(at::allclose(bound, expected, 1e-6, 0))
        << "bounds differ in " << (bound - expected).abs().gt(1e-6).sum().item<int64_t>() << " of " << bound.numel()
        << " groups";
    EXPECT_TRUE((bound < w.abs().view({w.size(0), bound.size(1), -1}).amax(2)).any().item<bool>())
        << "the data must make the search clip somewhere";
  }
}

TEST(AwqQuantizer, BeatsRoundToNearestOnTheCalibrationSet) {
  const auto& g = golden_clip();
  const at::Tensor w = g.get("weight").to(at::kFloat), x = g.get("input").to(at::kFloat);
  std::printf("%-16s %10s %10s\n", "bits/group/zp", "AWQ", "RTN");
  for (const AwqConfig& config : {config_of(4, 32, true), config_of(4, -1, true), config_of(4, 32, false),
                                  config_of(3, 32, true), config_of(2, 32, true), config_of(8, 64, true)}) {
    const std::string name = std::to_string(config.bits) + "/" + std::to_string(config.group_size) + "/" +
                             (config.zero_point ? "true" : "false");
    SCOPED_TRACE(name);
    const double awq = output_error(w, make_layer(quantize_awq(w, x, config, at::kHalf), {}, config)->dequantize(), x);
    const double rtn = output_error(w, make_layer(quantize_rtn(w, config, at::kHalf), {}, config)->dequantize(), x);
    std::printf("%-16s %10.5f %10.5f\n", name.c_str(), awq, rtn);
    RecordProperty(name + " AWQ / RTN", std::to_string(awq) + " / " + std::to_string(rtn));
    EXPECT_LT(awq, rtn);
  }
}

TEST(AwqQuantizer, RoundToNearestWithoutZeroPointIsSymmetric) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({8, 64});
  const QuantizedWeight q = quantize_rtn(w, config_of(4, 32, false), at::kFloat);
  EXPECT_TRUE((q.zeros == 8).all().item<bool>());
  // absmax / 7 per group: the largest magnitude maps to code 8 +- 7.
  EXPECT_TRUE(at::allclose(q.scales, std::get<0>(w.abs().view({8, 2, 32}).max(2)) / 7));
  EXPECT_GE(q.codes.min().item<int64_t>(), 1);
}

TEST(AwqQuantizer, RequantizingKeepsTheLayoutAndSettings) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({64, 128}) * 0.1;
  for (const char* options : {R"({"bits": 3, "group_size": 32})", R"({"format": "gemv", "group_size": 64})"}) {
    SCOPED_TRACE(options);
    auto layer = std::dynamic_pointer_cast<AwqLinear>(AwqFormat().quantize(w, {}, options, {}));
    const auto sizes = [&] {
      return std::vector<std::vector<int64_t>>{layer->qweight().sizes().vec(), layer->qzeros().sizes().vec(),
                                               layer->scales().sizes().vec()};
    };
    const auto before = sizes();
    const at::Tensor rotated = w.flip(1);
    layer->set_dense_weight(rotated);
    EXPECT_EQ(sizes(), before);
    // The new weight is the rotated one, within the format's rounding.
    const at::Tensor expected =
        make_layer(quantize_rtn(rotated.to(at::kHalf), layer->config(), at::kHalf), {}, layer->config())->dequantize();
    EXPECT_TRUE(at::equal(layer->dequantize(), expected));
  }
}

TEST(AwqDequantization, GemvWordsDecodeAsTheUnpackedCodesWhetherOrNotAGroupSplitsAWord) {
  // Group 64 holds whole words (decoded four lanes at a time); group 132 splits one of every 33 words (decoded
  // value by value). Both equal (codes - zero) * scale from the ATen unpacker, rounded to the scales' dtype.
  at::manual_seed(3);
  for (const int64_t group : {int64_t{64}, int64_t{132}}) {
    SCOPED_TRACE(group);
    const at::Tensor w = at::randn({16, 264}) * 0.1;
    const std::string options = R"({"format": "gemv", "group_size": )" + std::to_string(group) + "}";
    auto layer = std::dynamic_pointer_cast<AwqLinear>(
        AwqFormat().quantize(w.narrow(1, 0, 264 / group * group), {}, options, {}));
    ASSERT_TRUE(layer);
    const int64_t in = layer->in_features(), groups = in / group;
    const at::Tensor codes = unpack_sequential4(layer->qweight()).to(at::kFloat);            // (out, in)
    const at::Tensor zeros = layer->zeros().to(at::kFloat).t().repeat_interleave(group, 1);  // (out, in)
    const at::Tensor scales = layer->scales().narrow(1, 0, groups).to(at::kFloat).repeat_interleave(group, 1);
    const at::Tensor expected = ((codes - zeros) * scales).to(layer->scales().scalar_type());
    EXPECT_TRUE(at::equal(layer->dequantize(), expected));
  }
}

}  // namespace
}  // namespace oft::awq::test
