// oft's HQQ quantizer against hqq's own (HQQLinear on CPU: the fp32 proximal optimizer) on the golden
// layer, every golden case: the same packed codes, scales and zero points. The scale comes from min/max
// alone and must be bit-equal; the zero points go through the optimizer's vectorized means, whose
// summation order can follow the CPU's vector width: we require them within 1e-5 (absolute, zero points
// are O(2^nbits)) and at most 0.1% of the codes off by one. Measured on AVX512 and on LibTorch's portable
// paths (ctest hqq_same_results_on_portable_cpu_paths): every code, scale and zero point bit-equal.
#include "hqq_format.h"
#include "hqq_linear.h"
#include "hqq_packing.h"
#include "hqq_quantizer.h"
#include "hqq_test_data.h"
#include "oft/sdk/tiled_dequantized_linear.h"

namespace oft::hqq::test {
namespace {

at::Tensor codes_of(const HqqState& state) {
  at::Tensor packed = state.meta.settings.view_as_float ? state.W_q.view(packed_dtype(state.meta.packing)) : state.W_q;
  return unpack(packed, state.meta.packing, at::kInt).slice(0, 0, state.meta.rows);
}

TEST(HqqQuantizer, QuantizesLikeHqqOnCpu) {
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    const HqqState mine = quantize_state(golden_weight(), golden_bias(), c.settings, c.compute_dtype);
    const HqqState theirs = decode_state(c.state(), golden_shape());
    EXPECT_EQ(mine.W_q.scalar_type(), theirs.W_q.scalar_type());
    EXPECT_EQ(mine.W_q.sizes(), theirs.W_q.sizes());
    EXPECT_TRUE(at::equal(mine.scale, theirs.scale));
    const double zero_diff = (mine.zero.to(at::kFloat) - theirs.zero.to(at::kFloat)).abs().max().item<double>();
    EXPECT_LE(zero_diff, 1e-5);
    const at::Tensor code_diff = (codes_of(mine) - codes_of(theirs)).abs();
    EXPECT_LE(code_diff.max().item<int64_t>(), 1);
    const double off = code_diff.gt(0).to(at::kDouble).mean().item<double>();
    EXPECT_LE(off, 0.001);
    EXPECT_TRUE(at::equal(mine.bias, theirs.bias));
    RecordProperty(c.name + "_codes_off / zero_max_diff / all_bit_equal",
                   std::to_string(off) + " / " + std::to_string(zero_diff) + " / " +
                       std::to_string(at::equal(mine.W_q.view(at::kByte), theirs.W_q.view(at::kByte)) &&
                                      at::equal(mine.zero, theirs.zero)));
  }
}

TEST(HqqQuantizer, TheOptimizerLowersTheErrorOfTheMinMaxGrid) {
  // The proximal solver minimizes an lp (p = 0.7) error of W - dequant(W); its mean absolute error must
  // beat the plain min/max grid's at low bit widths, where the zero point matters most.
  for (double nbits : {2.0, 3.0}) {
    HqqSettings settings;
    settings.nbits = nbits;
    settings.round_zero = false;
    const at::Tensor w = golden_weight();
    auto error = [&](bool optimize) {
      settings.optimize = optimize;
      HqqLinear layer(quantize_state(w, at::Tensor(), settings, at::kFloat));
      return (layer.dequantize() - w).abs().mean().item<double>();
    };
    EXPECT_LT(error(true), error(false)) << nbits << " bits";
  }
}

TEST(HqqQuantizer, OptionsAreHqqConfigsKeywordArguments) {
  HqqFormat format;
  const auto methods = format.quantize_methods();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_EQ(methods[0].name, "hqq");
  EXPECT_FALSE(methods[0].needs_calibration);
  const HqqSettings defaults = HqqSettings::from_options(methods[0].default_options_json);
  EXPECT_EQ(defaults.nbits, 4);
  EXPECT_EQ(defaults.group_size, 64);
  EXPECT_EQ(defaults.axis, 1);
  EXPECT_TRUE(defaults.round_zero);  // hqq rounds zero points for 4-bit only
  EXPECT_FALSE(HqqSettings::from_options(R"({"nbits": 3})").round_zero);
  auto message = [](const std::string& options) {
    try {
      HqqSettings::from_options(options);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"bits": 4})").find("unknown option \"bits\""), std::string::npos);
  EXPECT_NE(message(R"({"nbits": 7})").find("\"nbits\""), std::string::npos);
  EXPECT_NE(message(R"({"group_size": 12})").find("multiple of 8"), std::string::npos);
  EXPECT_NE(message(R"({"axis": 2})").find("\"axis\""), std::string::npos);
  EXPECT_NE(message(R"({"view_as_float": 1})").find("true or false"), std::string::npos);
  EXPECT_NE(message("[1]").find("JSON object"), std::string::npos);
  // The group must divide the weight and the rows must fill the packing's planes.
  EXPECT_THROW(format.quantize(at::randn({16, 60}), at::Tensor(), R"({"group_size": 64})", at::Tensor()),
               std::invalid_argument);
  EXPECT_THROW(format.quantize(at::randn({2, 64}), at::Tensor(), R"({"nbits": 2, "group_size": 64})", at::Tensor()),
               std::invalid_argument);
  // view_as_float reinterprets packed rows as the compute dtype: 9 bytes are no whole number of float32.
  EXPECT_THROW(format.quantize(at::randn({6, 12}).to(at::kDouble), at::Tensor(),
                               R"({"nbits": 8, "group_size": 8, "axis": 0, "view_as_float": true})", at::Tensor()),
               std::invalid_argument);
}

TEST(HqqQuantizer, QuantizesInTheWeightsDtype) {
  HqqFormat format;
  const at::Tensor w = golden_weight().to(at::kBFloat16);
  auto layer = format.quantize(w, golden_bias(), "", at::Tensor());
  EXPECT_EQ(layer->compute_dtype(), at::kBFloat16);
  EXPECT_TRUE(oft::test::close(layer->dense_weight(), w, 0.1, "4-bit, group 64"));
}

// A few tokens take the tiled product (oft/sdk/tiled_dequantized_linear.h) for groups along the input: several
// tiles whose code rows cross the packing's bit planes (4 bits: 2 planes; 3 bits: 10, and 4004 code rows pad to
// 4010); against the whole-weight path of a long input.
TEST(HqqTiles, FewTokensEqualTheWholeWeightPathAcrossTiles) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({1001, 256}) * 0.05, b = at::randn({1001});
  const at::Tensor x = at::randn({sdk::kTiledLinearMaxTokens + 8, 256});
  for (const char* options : {R"({"nbits": 4, "group_size": 64})", R"({"nbits": 3, "group_size": 64})"}) {
    SCOPED_TRACE(options);
    auto layer = HqqFormat().quantize(w, b, options, at::Tensor());
    at::NoGradGuard no_grad;
    const at::Tensor all = layer->forward(x), few = layer->forward(x.narrow(0, 0, 5));
    EXPECT_TRUE(oft::test::close(few, all.narrow(0, 0, 5), 1e-5, "5 tokens vs the same rows of a long input"));
  }
}

}  // namespace
}  // namespace oft::hqq::test
