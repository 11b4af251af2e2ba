// Behaviour of the OFT layers beyond single-adapter parity: several adapters in order, merging that
// preserves that order, Conv2d shapes PEFT cannot handle, eval caching, safe merge, dropout,
// disabling, deleting, trainability, fan_in_fan_out and half precision.
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/oft_conv2d.h"
#include "oft/adapter/oft_embedding.h"
#include "oft/adapter/oft_linear.h"
#include "oft/adapter/rotation_math.h"
#include "oft/device/rotation_kernels.h"
#include "oft/errors.h"
#include "test_support.h"

namespace oft {
namespace {

OFTConfig block_config(int64_t block_size, bool random = true) {
  OFTConfig c;
  c.oft_block_size = block_size;
  c.init_weights = !random;
  return c;
}

at::Tensor dense_rotation(OFTLinearImpl& layer, const std::string& name) {
  torch::NoGradGuard no_grad;
  return layer.rotation(name)->dense();
}

class OFTLayers : public ::testing::Test {
 protected:
  void SetUp() override { at::manual_seed(7); }
};

TEST_F(OFTLayers, IdentityInitLeavesEveryLayerTypeUnchanged) {
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(16, 6);
  auto x = at::randn({4, 16});
  auto base_out = lin->forward(x);
  OFTLinear oft_lin(lin);
  oft_lin->add_adapter("default", block_config(4, /*random=*/false));
  EXPECT_TRUE(at::allclose(oft_lin->forward(x), base_out, 0, 1e-6));

  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3).padding(1));
  auto img = at::randn({2, 3, 6, 7});
  auto conv_out = conv->forward(img);
  OFTConv2d oft_conv(conv);
  oft_conv->add_adapter("default", block_config(9, false));
  EXPECT_TRUE(at::allclose(oft_conv->forward(img), conv_out, 0, 1e-6));  // PEFT's fold changes this (B1)

  torch::nn::Embedding emb(20, 8);
  auto ids = at::randint(0, 20, {3, 5});
  auto emb_out = emb->forward(ids);
  OFTEmbedding oft_emb(emb);
  oft_emb->add_adapter("default", block_config(4, false));
  EXPECT_TRUE(at::allclose(oft_emb->forward(ids), emb_out, 0, 1e-6));
}

TEST_F(OFTLayers, SeveralAdaptersApplyInOrderAndMergeToTheSameModel) {
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(16, 6);
  auto w = lin->weight.clone();
  OFTLinear layer(lin);
  layer->add_adapter("a", block_config(4));
  layer->add_adapter("b", block_config(4));
  layer->set_adapter({"a", "b"});
  auto x = at::randn({5, 16});
  auto ra = dense_rotation(*layer, "a"), rb = dense_rotation(*layer, "b");
  auto expected = at::linear(x.matmul(ra).matmul(rb), w, lin->bias);
  auto unmerged = layer->forward(x);
  EXPECT_TRUE(test::close(unmerged, expected, 1e-5, "x Ra Rb W^T"));
  // The other order is a different model for blocks > 2 (rotations do not commute): PEFT's merge
  // computes that one (B2); ours must not.
  auto swapped = at::linear(x.matmul(rb).matmul(ra), w, lin->bias);
  EXPECT_GT(test::relative_error(swapped, expected), 1e-3);

  layer->merge();
  EXPECT_EQ(layer->merged_adapters().size(), 2u);
  EXPECT_TRUE(test::close(layer->forward(x), unmerged, 1e-5, "merged vs unmerged"));
  layer->unmerge();
  EXPECT_TRUE(test::close(lin->weight, w, 1e-5, "weight after unmerge"));
  EXPECT_FALSE(layer->merged());
}

TEST_F(OFTLayers, EmbeddingMergesSeveralAdaptersInApplicationOrder) {
  torch::NoGradGuard no_grad;
  torch::nn::Embedding emb(20, 8);
  OFTEmbedding layer(emb);
  layer->add_adapter("a", block_config(4));
  layer->add_adapter("b", block_config(4));
  layer->set_adapter({"a", "b"});
  auto ids = at::randint(0, 20, {3, 5});
  auto unmerged = layer->forward(ids);
  layer->merge();
  EXPECT_TRUE(test::close(layer->forward(ids), unmerged, 1e-5, "merged embedding"));
}

TEST_F(OFTLayers, Conv2dForwardEqualsMergedForAnyGeometry) {
  torch::NoGradGuard no_grad;
  // Non-square kernel, stride, padding, dilation and groups: PEFT fails or scrambles all of these.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, {3, 5}).stride({2, 1}).padding({1, 2}).dilation(2).groups(2));
  OFTConv2d layer(conv);
  EXPECT_EQ(layer->rotated_features(), 2 * 3 * 5);
  layer->add_adapter("default", block_config(5));
  auto x = at::randn({2, 4, 9, 11});
  auto unmerged = layer->forward(x);
  EXPECT_GT(test::relative_error(unmerged, conv->forward(x)), 1e-3);
  layer->merge();
  EXPECT_TRUE(test::close(conv->forward(x), unmerged, 1e-5, "merged conv"));
}

TEST_F(OFTLayers, Conv2dRotatesEveryInputPatch) {
  torch::NoGradGuard no_grad;
  // Reference from the definition: unfold the patches, rotate each by R, multiply by the filters.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3).bias(false));
  OFTConv2d layer(conv);
  layer->add_adapter("default", block_config(6));
  auto x = at::randn({1, 2, 5, 6});
  auto r = layer->rotation("default")->dense();
  auto patches = at::im2col(x, {3, 3}, {1, 1}, {0, 0}, {1, 1});  // (1, 18, L)
  auto rotated = patches.transpose(1, 2).matmul(r);              // (1, L, 18)
  auto expected = rotated.matmul(conv->weight.view({3, 18}).t()).transpose(1, 2).reshape({1, 3, 3, 4});
  EXPECT_TRUE(test::close(layer->forward(x), expected, 1e-5, "patch rotation"));
}

TEST_F(OFTLayers, Conv2dWithReflectPaddingMatchesMerged) {
  torch::NoGradGuard no_grad;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3).padding(1).padding_mode(torch::kReflect));
  OFTConv2d layer(conv);
  layer->add_adapter("default", block_config(6));
  auto x = at::randn({1, 2, 5, 5});
  auto unmerged = layer->forward(x);
  layer->merge();
  EXPECT_TRUE(test::close(conv->forward(x), unmerged, 1e-5, "reflect padding"));
}

TEST_F(OFTLayers, EvalModeReusesTheRotationUntilTheWeightChanges) {
  torch::nn::Linear lin(16, 6);
  OFTLinear layer(lin);
  layer->add_adapter("default", block_config(4));
  layer->eval();
  torch::NoGradGuard no_grad;
  auto rotation = layer->rotation("default");
  auto first = rotation->blocks();
  EXPECT_EQ(rotation->blocks().data_ptr(), first.data_ptr());  // cached, not rebuilt
  auto x = at::randn({3, 16});
  auto before = layer->forward(x);
  rotation->weight.add_(0.05);
  auto rebuilt = rotation->blocks();
  EXPECT_NE(rebuilt.data_ptr(), first.data_ptr());
  EXPECT_GT(test::relative_error(layer->forward(x), before), 1e-4);
}

TEST_F(OFTLayers, TrainingWithGradientsNeverUsesACachedRotation) {
  torch::nn::Linear lin(16, 6);
  OFTLinear layer(lin);
  layer->add_adapter("default", block_config(4));
  auto x = at::randn({3, 16});
  for (int step = 0; step < 2; ++step) {
    layer->forward(x).sum().backward();  // a cached graph would fail on the second backward
    ASSERT_TRUE(layer->rotation("default")->weight.grad().defined());
  }
}

TEST_F(OFTLayers, SafeMergeRefusesNonFiniteWeightsAndLeavesTheBaseUntouched) {
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(16, 6);
  auto w = lin->weight.clone();
  OFTLinear layer(lin);
  layer->add_adapter("default", block_config(4));
  layer->rotation("default")->weight[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(layer->merge({.safe_merge = true}), UsageError);
  EXPECT_TRUE(at::equal(lin->weight, w));
  EXPECT_FALSE(layer->merged());

  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3));
  auto cw = conv->weight.clone();
  OFTConv2d oft_conv(conv);
  oft_conv->add_adapter("default", block_config(6));
  oft_conv->rotation("default")->weight[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(oft_conv->merge({.safe_merge = true}), UsageError);
  EXPECT_TRUE(at::equal(conv->weight, cw));
}

TEST_F(OFTLayers, ModuleDropoutAppliesInTrainingOnly) {
  torch::nn::Linear lin(16, 6);
  OFTLinear layer(lin);
  OFTConfig c = block_config(2);  // 8 blocks
  c.module_dropout = 0.5;
  layer->add_adapter("default", c);
  auto x = at::randn({3, 16});
  torch::NoGradGuard no_grad;
  layer->eval();
  auto eval_out = layer->forward(x);
  EXPECT_TRUE(at::equal(layer->forward(x), eval_out));
  layer->train();
  auto dropped = layer->rotation("default")->effective_blocks();
  int identity_blocks = 0;
  for (int i = 0; i < 8; ++i) identity_blocks += at::equal(dropped[i], at::eye(2));
  EXPECT_EQ(identity_blocks, 4);
  EXPECT_GT(test::relative_error(layer->forward(x), eval_out), 1e-4);  // PEFT never applies it (B3)
}

TEST_F(OFTLayers, DisablingGivesTheBaseLayerAndUnmergesFirst) {
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(16, 6);
  auto x = at::randn({3, 16});
  auto base_out = lin->forward(x);
  OFTLinear layer(lin);
  layer->add_adapter("default", block_config(4));
  layer->merge();
  layer->enable_adapters(false);
  EXPECT_TRUE(test::close(layer->forward(x), base_out, 1e-5, "disabled"));
  EXPECT_FALSE(layer->merged());
  layer->enable_adapters(true);
  EXPECT_GT(test::relative_error(layer->forward(x), base_out), 1e-4);
}

TEST_F(OFTLayers, OnlyActiveAdaptersAreTrainableAndDeleteRemovesParameters) {
  torch::nn::Linear lin(16, 6);
  OFTLinear layer(lin);
  layer->add_adapter("a", block_config(4));
  layer->add_adapter("b", block_config(8));
  EXPECT_EQ(layer->active_adapters(), std::vector<std::string>{"a"});
  EXPECT_TRUE(layer->rotation("a")->weight.requires_grad());
  EXPECT_FALSE(layer->rotation("b")->weight.requires_grad());
  layer->set_adapter({"b"});
  EXPECT_FALSE(layer->rotation("a")->weight.requires_grad());
  EXPECT_TRUE(layer->rotation("b")->weight.requires_grad());

  auto names = layer->named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "oft_R.a.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "base_layer.weight"), names.end());
  layer->delete_adapter("a");
  names = layer->named_parameters().keys();
  EXPECT_EQ(std::find(names.begin(), names.end(), "oft_R.a.weight"), names.end());
  EXPECT_THROW(layer->rotation("a"), UsageError);
  EXPECT_THROW(layer->add_adapter("b", block_config(4)), UsageError);
}

TEST_F(OFTLayers, FanInFanOutConv1DMatchesTheEquivalentLinear) {
  torch::NoGradGuard no_grad;
  Conv1D conv(16, 6);
  conv->bias.normal_();
  torch::nn::Linear lin(16, 6);
  lin->weight.copy_(conv->weight.t());
  lin->bias.copy_(conv->bias);
  OFTLinear a(conv), b(lin);
  a->add_adapter("default", block_config(4));
  b->add_adapter("default", block_config(4));
  b->rotation("default")->weight.copy_(a->rotation("default")->weight);
  auto x = at::randn({3, 16});
  auto out = a->forward(x);
  EXPECT_TRUE(test::close(out, b->forward(x), 1e-5, "Conv1D vs Linear"));
  a->merge();
  EXPECT_EQ(conv->weight.sizes(), (std::vector<int64_t>{16, 6}));
  EXPECT_TRUE(test::close(a->forward(x), out, 1e-5, "merged Conv1D"));
}

TEST_F(OFTLayers, HalfPrecisionBaseKeepsAFloat32AdapterAndItsOwnOutputDtype) {
  torch::NoGradGuard no_grad;
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    torch::nn::Linear lin(16, 6);
    lin->to(dtype);
    OFTLinear layer(lin);
    layer->add_adapter("default", block_config(4));
    EXPECT_EQ(layer->rotation("default")->weight.scalar_type(), at::kFloat);
    auto x = at::randn({3, 16}).to(dtype);
    auto out = layer->forward(x);
    EXPECT_EQ(out.scalar_type(), dtype);
    auto r = layer->rotation("default")->dense();
    auto reference = at::linear(x.to(at::kFloat).matmul(r).to(dtype).to(at::kFloat), lin->weight.to(at::kFloat),
                                lin->bias.to(at::kFloat));
    EXPECT_TRUE(test::close(out, reference, dtype == at::kHalf ? 2e-3 : 1.6e-2, "half precision forward"));
  }
}

// A stand-in for a device's rotate_rows kernel with the same contract (fp32 arithmetic, x's dtype out),
// registered for the CPU while it lives, counting its calls.
int stand_in_calls = 0;
at::Tensor stand_in_rotate_rows(const at::Tensor& x, const at::Tensor& blocks) {
  ++stand_in_calls;
  return math::rotate_rows(x.to(at::kFloat), blocks.to(at::kFloat)).to(x.scalar_type());
}
struct StandInCpuKernel {
  StandInCpuKernel() {
    RotationKernels kernels;
    kernels.rotate_rows = &stand_in_rotate_rows;
    register_rotation_kernels(c10::kCPU, kernels);
    stand_in_calls = 0;
  }
  ~StandInCpuKernel() { register_rotation_kernels(c10::kCPU, RotationKernels{}); }
};

// Two adapters on a bf16 base: through a device kernel the rotated input is the fp32 chain rounded once to
// bf16, as without one, not rounded after each adapter.
TEST_F(OFTLayers, SeveralAdaptersThroughADeviceKernelRoundOnce) {
  torch::NoGradGuard no_grad;
  torch::nn::Linear lin(64, 8);
  lin->to(at::kBFloat16);
  OFTLinear layer(lin);
  layer->add_adapter("a", block_config(8));
  layer->add_adapter("b", block_config(8));
  layer->set_adapter({"a", "b"});
  const auto x = at::randn({32, 64}).to(at::kBFloat16);
  const at::Tensor without_kernel = layer->forward(x);
  {
    const StandInCpuKernel kernel;
    const at::Tensor with_kernel = layer->forward(x);
    EXPECT_EQ(stand_in_calls, 2);
    EXPECT_TRUE(at::equal(with_kernel, without_kernel));
  }
  // What rounding after each adapter gives differs, so the comparison above can tell the two apart.
  at::Tensor rounded_each = x;
  for (const char* name : {"a", "b"})
    rounded_each = stand_in_rotate_rows(rounded_each, layer->rotation(name)->effective_blocks());
  EXPECT_FALSE(at::equal(lin->forward(rounded_each), without_kernel));
}

TEST_F(OFTLayers, DegenerateBlockSizeIsRefused) {
  torch::nn::Linear lin(11, 4);
  OFTLinear layer(lin);
  EXPECT_THROW(layer->add_adapter("default", block_config(4)), ConfigError);
  EXPECT_TRUE(layer->adapter_names().empty());
}

}  // namespace
}  // namespace oft
