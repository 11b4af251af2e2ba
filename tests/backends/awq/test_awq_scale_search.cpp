// AWQ's input scale search (awq_scale_search.h): on a group of linears whose input has outlier channels,
// scale search + clipping beats clipping alone and round-to-nearest on the calibration outputs; for one
// linear it chooses GPTQModel's scale (tests/golden/gen_awq.py); the
// built plugin offers the search to the host as sdk::InputScaleSearch (a dynamic_cast across the plugin
// boundary), and {"scale_search": false} turns it off. Errors: ||X (W - W')^T|| / ||X W^T|| over the
// group's outputs, W' the weight the packed layers (fp16 scales) give back with the scale undone.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "awq_format.h"
#include "awq_scale_search.h"
#include "awq_test_data.h"
#include "oft/plugin/format_registry.h"
#include "oft/sdk/input_scale_search.h"
#include "plugin_loading.h"

namespace oft::awq::test {
namespace {

AwqConfig config_of(int bits, int64_t group_size) {
  AwqConfig config;
  config.bits = bits;
  config.group_size = group_size;
  return config;
}

// Three q/k/v-like weights reading one input of 128 channels, 8 of which are 20x larger than the rest
// (the activation outliers AWQ protects).
struct OutlierGroup {
  std::vector<at::Tensor> weights;
  at::Tensor x;
  OutlierGroup() {
    at::manual_seed(7);
    for (int i = 0; i < 3; ++i) weights.push_back(at::randn({32, 128}) * 0.05);
    at::Tensor channel_scale = at::ones({128});
    channel_scale.index_put_({at::arange(0, 128, 16)}, 20.0);
    x = at::randn({256, 128}) * channel_scale;
  }
  at::Tensor all() const { return at::cat(weights); }
};

// The weight the packed layer of `w` (quantized on inputs `x` with clipping, or round-to-nearest when
// x is undefined) gives back.
at::Tensor packed(const at::Tensor& w, const at::Tensor& x, const AwqConfig& config) {
  QuantizedWeight q = x.defined() ? quantize_awq(w, x, config, at::kHalf) : quantize_rtn(w, config, at::kHalf);
  return make_layer(q, {}, config)->dequantize().to(at::kFloat);
}

TEST(AwqScaleSearch, ScaledAndClippedBeatsClippedAndRoundToNearestWithOutlierChannels) {
  const OutlierGroup g;
  std::printf("%-10s %10s %10s %10s %6s\n", "bits/group", "scale+clip", "clip", "RTN", "ratio");
  for (const AwqConfig& config : {config_of(4, 32), config_of(3, 64)}) {
    const std::string name = std::to_string(config.bits) + "/" + std::to_string(config.group_size);
    SCOPED_TRACE(name);
    const ScaleSearchResult found = search_input_scale(g.weights, g.x, config);
    ASSERT_EQ(found.scale.sizes(), at::IntArrayRef({128}));
    EXPECT_TRUE((found.scale > 0).all().item<bool>());
    EXPECT_LE(found.loss, found.unscaled_loss);
    std::vector<at::Tensor> scaled, clipped, rtn;
    for (const auto& w : g.weights) {
      scaled.push_back(packed(w * found.scale, g.x / found.scale, config) / found.scale);
      clipped.push_back(packed(w, g.x, config));
      rtn.push_back(packed(w, at::Tensor(), config));
    }
    const double e_scaled = output_error(g.all(), at::cat(scaled), g.x);
    const double e_clip = output_error(g.all(), at::cat(clipped), g.x);
    const double e_rtn = output_error(g.all(), at::cat(rtn), g.x);
    std::printf("%-10s %10.5f %10.5f %10.5f %6.2f\n", name.c_str(), e_scaled, e_clip, e_rtn, found.ratio);
    RecordProperty(name + " scale+clip / clip / RTN",
                   std::to_string(e_scaled) + " / " + std::to_string(e_clip) + " / " + std::to_string(e_rtn));
    EXPECT_GT(found.ratio, 0) << "outlier channels must make a scale win";
    EXPECT_LT(e_scaled, e_clip);
    EXPECT_LT(e_scaled, e_rtn);
  }
}

// GPTQModel scores a lone linear by its own output, as the search here does: the same scale and loss.
TEST(AwqScaleSearch, ChoosesGptqModelsScaleForOneLinear) {
  const auto g = oft::test::load_golden("awq/awq_scale.safetensors");
  const at::Tensor w = g.get("weight").to(at::kFloat), x = g.get("input").to(at::kFloat);
  for (const auto& c : g.cases) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    AwqConfig config = config_of(c.at("bits"), c.at("group_size"));
    config.zero_point = c.at("zero_point");
    const ScaleSearchResult found = search_input_scale({w}, x, config);
    EXPECT_GT(found.ratio, 0);
    // Same candidates, same losses up to float summation order: the same ratio, so the same scale.
    EXPECT_TRUE(at::allclose(found.scale, g.get(name + "/scale"), 1e-5, 0));
    EXPECT_NEAR(found.loss, g.get(name + "/loss").item<double>(), 1e-5 * found.loss);
  }
}

TEST(AwqScaleSearch, WithoutOutliersTheScaleIsNeverWorseThanNone) {
  at::manual_seed(3);
  const std::vector<at::Tensor> weights{at::randn({32, 64}) * 0.05};
  const at::Tensor x = at::randn({256, 64});
  const ScaleSearchResult found = search_input_scale(weights, x, config_of(4, 32));
  EXPECT_LE(found.loss, found.unscaled_loss);
  if (found.ratio < 0) {
    EXPECT_TRUE(at::equal(found.scale, at::ones({64})));
  }
}

TEST(AwqScaleSearch, RefusesMismatchedWeightsAndMissingCalibration) {
  const AwqConfig config = config_of(4, 32);
  const at::Tensor x = at::randn({16, 64});
  EXPECT_THROW(search_input_scale({}, x, config), std::invalid_argument);
  try {
    search_input_scale({at::randn({8, 64}), at::randn({8, 32})}, x, config);
    ADD_FAILURE() << "no error for weights of different in_features";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("weight 1"), std::string::npos) << e.what();
  }
  try {
    search_input_scale({at::randn({8, 64})}, at::Tensor(), config);
    ADD_FAILURE() << "no error without calibration";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("calibration"), std::string::npos) << e.what();
  }
  EXPECT_THROW(search_input_scale({at::randn({8, 48})}, at::randn({16, 48}), config), std::invalid_argument);
}

// The built plugin's format, as the host sees it, offers the search; its answer equals the search here.
TEST(AwqScaleSearch, ThePluginsFormatOffersItToTheHost) {
  const PluginHostResult host = oft::test::load_only_plugin(OFT_AWQ_PLUGIN_FILE, "awq");
  const auto format = host.formats->get(host.formats->method("awq").format);
  const auto* search = dynamic_cast<const sdk::InputScaleSearch*>(format.get());
  ASSERT_NE(search, nullptr) << "the awq format is not an sdk::InputScaleSearch to the host";

  const OutlierGroup g;
  const at::Tensor scale = search->search_input_scale(g.weights, R"({"group_size": 32})", g.x);
  ASSERT_TRUE(scale.defined());
  EXPECT_TRUE(at::allclose(scale, search_input_scale(g.weights, g.x, config_of(4, 32)).scale, 1e-6, 0));
  EXPECT_FALSE(search->search_input_scale(g.weights, R"({"group_size": 32, "scale_search": false})", g.x).defined());
  EXPECT_THROW(search->search_input_scale(g.weights, R"({"scale_search": 1})", g.x), std::invalid_argument);
}

}  // namespace
}  // namespace oft::awq::test
