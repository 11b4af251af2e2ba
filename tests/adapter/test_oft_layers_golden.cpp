// OFT layers against the real PEFT: every case in tests/golden/data/oft_{linear,conv2d,embedding}
// (written by tests/golden/gen_oft_layers.py) is rebuilt here from the same base weights and
// adapter weights, and its rotation, forward output, adapter gradient, merged and unmerged weights
// are compared. Tolerance: 1e-5 relative (norm-wise) for fp32; fp16 2e-3 and bf16 1.6e-2, i.e.
// about two units in the last place of the half-precision outputs.
#include <functional>

#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/oft_conv2d.h"
#include "oft/adapter/oft_embedding.h"
#include "oft/adapter/oft_linear.h"
#include "oft/adapter/rotation_math.h"
#include "test_support.h"

namespace oft {
namespace {

using nlohmann::json;

struct LayerUnderTest {
  std::shared_ptr<OFTLayer> layer;
  std::function<at::Tensor(const at::Tensor&)> forward;
  at::Tensor weight;  // the base layer's weight parameter
  at::Tensor bias;
};

at::ScalarType dtype_named(const std::string& name) {
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  return at::kFloat;
}

double tolerance_for(at::ScalarType dtype) {
  if (dtype == at::kHalf) return 2e-3;
  if (dtype == at::kBFloat16) return 1.6e-2;
  return 1e-5;
}

OFTConfig config_of(const json& c) {
  const json& k = c["config"];
  OFTConfig config;
  config.r = k["r"];
  config.oft_block_size = k["oft_block_size"];
  config.coft = k["coft"];
  config.eps = k["eps"];
  config.block_share = k["block_share"];
  config.use_cayley_neumann = k["use_cayley_neumann"];
  config.num_cayley_neumann_terms = k["num_cayley_neumann_terms"];
  config.module_dropout = k["module_dropout"];
  config.init_weights = false;
  return config;
}

LayerUnderTest build_layer(const json& c) {
  const json& a = c["layer_args"];
  const std::string type = c["layer"];
  const auto dtype = dtype_named(c["dtype"]);
  if (type == "linear") {
    torch::nn::Linear base(torch::nn::LinearOptions(a["in_features"], a["out_features"]).bias(a["bias"].get<bool>()));
    base->to(dtype);
    auto layer = std::make_shared<OFTLinearImpl>(base);
    return {layer, [layer](const at::Tensor& x) { return layer->forward(x); }, base->weight, base->bias};
  }
  if (type == "conv2d") {
    torch::nn::Conv2d base(
        torch::nn::Conv2dOptions(a["in_channels"], a["out_channels"], a["kernel_size"].get<int64_t>())
            .stride(a["stride"].get<int64_t>())
            .padding(a["padding"].get<int64_t>())
            .bias(a["bias"].get<bool>()));
    base->to(dtype);
    auto layer = std::make_shared<OFTConv2dImpl>(base);
    return {layer, [layer](const at::Tensor& x) { return layer->forward(x); }, base->weight, base->bias};
  }
  torch::nn::Embedding base(torch::nn::EmbeddingOptions(a["num_embeddings"], a["embedding_dim"]));
  base->to(dtype);
  auto layer = std::make_shared<OFTEmbeddingImpl>(base);
  return {layer, [layer](const at::Tensor& x) { return layer->forward(x); }, base->weight, at::Tensor()};
}

void check_case(const test::GoldenFile& g, const json& c) {
  const std::string name = c["name"];
  SCOPED_TRACE("case " + name);
  auto golden = [&](const std::string& field) { return g.get(name + "/" + field); };
  const double tol = tolerance_for(dtype_named(c["dtype"]));

  LayerUnderTest t = build_layer(c);
  {
    torch::NoGradGuard no_grad;
    t.weight.copy_(golden("base_weight"));
    if (t.bias.defined()) t.bias.copy_(golden("base_bias"));
  }
  t.layer->add_adapter("default", config_of(c));
  const BlockLayout layout = t.layer->layout("default");
  EXPECT_EQ(layout.num_blocks, c["resolved"]["r"].get<int64_t>());
  EXPECT_EQ(layout.block_size, c["resolved"]["block_size"].get<int64_t>());

  OFTRotation rotation = t.layer->rotation("default");
  {
    torch::NoGradGuard no_grad;
    rotation->weight.copy_(golden("adapter_weight"));
  }
  t.layer->train();
  at::Tensor out = t.forward(golden("input"));
  EXPECT_EQ(out.scalar_type(), golden("output").scalar_type());
  EXPECT_TRUE(test::close(out, golden("output"), tol, "forward output"));
  EXPECT_TRUE(test::close(rotation->weight, golden("adapter_weight_projected"), 1e-6, "adapter weight after forward"));

  (out * golden("grad_output")).sum().backward();
  ASSERT_TRUE(rotation->weight.grad().defined());
  EXPECT_TRUE(test::close(rotation->weight.grad(), golden("adapter_grad"), std::max(tol, 1e-5), "adapter gradient"));

  torch::NoGradGuard no_grad;
  EXPECT_TRUE(test::close(rotation->blocks(), golden("rotation_blocks"), 1e-5, "rotation blocks"));
  EXPECT_TRUE(test::close(rotation->dense(), golden("rotation"), 1e-5, "dense rotation"));

  t.layer->merge();
  EXPECT_TRUE(test::close(t.weight, golden("merged_weight"), tol, "merged weight"));
  t.layer->unmerge();
  EXPECT_TRUE(test::close(t.weight, golden("unmerged_weight"), tol, "unmerged weight"));
}

void check_file(const std::string& file, size_t min_cases) {
  const test::GoldenFile g = test::load_golden(file);
  ASSERT_GE(g.cases.size(), min_cases) << file;
  ::testing::Test::RecordProperty("peft_version", g.versions["peft"].get<std::string>());
  for (const json& c : g.cases) check_case(g, c);
}

TEST(OFTLayersVsPeft, Linear) { check_file("oft_linear.safetensors", 16); }
TEST(OFTLayersVsPeft, Conv2dAgainstPeftMergedConvolution) { check_file("oft_conv2d.safetensors", 16); }
TEST(OFTLayersVsPeft, Embedding) { check_file("oft_embedding.safetensors", 16); }

// PEFT's MultiplicativeDropoutLayer after torch.manual_seed(seed): ours draws the same randperm.
TEST(OFTLayersVsPeft, MultiplicativeDropoutReproducesPeftWithSameSeed) {
  const test::GoldenFile g = test::load_golden("oft_dropout.safetensors");
  ASSERT_EQ(g.cases.size(), 2u);
  for (const json& c : g.cases) {
    const std::string name = c["name"];
    at::manual_seed(c["seed"].get<uint64_t>());
    at::Tensor out = math::multiplicative_dropout(g.get(name + "/input"), c["p"].get<double>());
    EXPECT_TRUE(test::close(out, g.get(name + "/output"), 0.0, "dropout output " + name));
  }
}

}  // namespace
}  // namespace oft
