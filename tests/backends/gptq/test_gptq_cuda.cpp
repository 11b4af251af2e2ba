// The gptq plugin on a CUDA device against its own CPU path, through the built plugin (which loads
// liboft_gptq_cuda.so from beside itself at the first CUDA tensor). Skips without a CUDA device (label gpu).
// Tolerances: the dequantized weight is bit-exact (the same float32 steps, one rounding to the scales dtype);
// the forward multiplies in fp16 on the GPU and in fp32 on the CPU (3e-3 of the output's scale).
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cuda_test_device.h"
#include "oft/plugin/format_registry.h"
#include "oft/sdk/linear_format.h"
#include "plugin_loading.h"

namespace oft::gptq::test {
namespace {

class GptqCuda : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!plugin_test::cuda_unavailable_reason().empty()) return;  // every test skips
    host_ = std::make_unique<PluginHostResult>(oft::test::load_only_plugin(OFT_GPTQ_PLUGIN_FILE, "gptq"));
  }
  static void TearDownTestSuite() { host_.reset(); }
  void SetUp() override {
    OFT_REQUIRE_CUDA_OR_SKIP();
    at::manual_seed(0);
  }

  // A quantized layer and its saved-and-loaded copy on the GPU.
  struct Pair {
    std::shared_ptr<sdk::LinearModule> cpu, gpu;
  };
  static Pair quantized(const std::string& options, int64_t out, int64_t in) {
    const at::Tensor weight = at::randn({out, in}) * 0.2, bias = at::randn({out}) * 0.1;
    const std::string format = host_->formats->method("gptq").format;
    Pair p;
    p.cpu = host_->formats->quantize(format, "layer", weight, bias, options, at::randn({256, in}));
    const std::string config = host_->formats->get(format)->quantization_config(options);
    // load keeps the tensors it is given and Module::to moves them in place: without copies, moving the GPU
    // layer would move the CPU layer's tensors with it.
    sdk::TensorMap saved = host_->formats->save("layer", *p.cpu);
    for (auto& item : saved) item.second = item.second.clone();
    p.gpu = host_->formats->load("layer", saved, {in, out, true}, config);
    p.gpu->module()->to(at::Device(at::kCUDA));
    return p;
  }

  static double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
    const at::Tensor a = actual.detach().cpu().to(at::kDouble), e = expected.detach().cpu().to(at::kDouble);
    return (a - e).abs().max().item<double>() / std::max(e.abs().max().item<double>(), 1e-12);
  }

  static inline std::unique_ptr<PluginHostResult> host_;
};

TEST_F(GptqCuda, DequantizationIsBitExactForEveryBitWidthWithActOrder) {
  for (int bits : {2, 3, 4, 8})
    for (bool desc_act : {false, true}) {
      SCOPED_TRACE(std::to_string(bits) + " bits" + (desc_act ? ", act-order" : ""));
      Pair p = quantized("{\"bits\": " + std::to_string(bits) +
                             ", \"group_size\": 32, \"desc_act\": " + (desc_act ? "true" : "false") + "}",
                         64, 128);
      for (const auto& t : p.gpu->module()->buffers()) EXPECT_TRUE(t.is_cuda());
      const at::Tensor gpu = p.gpu->dense_weight();
      ASSERT_TRUE(gpu.is_cuda());
      EXPECT_EQ(gpu.scalar_type(), at::kHalf);
      EXPECT_TRUE(at::equal(gpu.cpu(), p.cpu->dense_weight()));
    }
}

TEST_F(GptqCuda, ForwardMatchesTheCpu) {
  for (int bits : {3, 4}) {
    SCOPED_TRACE(std::to_string(bits) + " bits");
    Pair p = quantized("{\"bits\": " + std::to_string(bits) + ", \"group_size\": 64, \"desc_act\": true}", 96, 192);
    for (int64_t tokens : {1, 40}) {
      const at::Tensor x = at::randn({tokens, 192});
      const at::Tensor y = p.gpu->forward(x.cuda());
      EXPECT_TRUE(y.is_cuda());
      EXPECT_EQ(y.scalar_type(), at::kFloat);
      EXPECT_LT(relative_error(y, p.cpu->forward(x)), 3e-3) << tokens << " tokens";
    }
  }
}

// On the GPU the kernel clamps group indices and the layer checks g_idx only when it changed (the check reads it
// back to the host): a write after loading is named at the next forward, and once put right the layer works.
TEST_F(GptqCuda, GroupIndicesWrittenAfterLoadingAreNamed) {
  Pair p = quantized("{\"bits\": 4, \"group_size\": 32, \"desc_act\": true}", 64, 128);
  const at::Tensor x = at::randn({3, 128}).cuda();
  const at::Tensor before = p.gpu->forward(x);
  at::Tensor g_idx;
  for (const auto& item : p.gpu->module()->named_buffers())
    if (item.key() == "g_idx") g_idx = item.value();
  ASSERT_TRUE(g_idx.defined() && g_idx.is_cuda());
  const at::Tensor kept = g_idx.clone();
  g_idx[5] = 4;  // 128 inputs in groups of 32: 0..3
  try {
    p.gpu->forward(x);
    ADD_FAILURE() << "no error for a group index out of range";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"g_idx\" has group indices outside [0, 4)"), std::string::npos) << e.what();
  }
  g_idx.copy_(kept);
  EXPECT_TRUE(at::equal(p.gpu->forward(x), before));
}

}  // namespace
}  // namespace oft::gptq::test
