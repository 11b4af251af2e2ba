// Models, OFT layers and adapter files on a CUDA device, against the same on the CPU: a checkpoint loaded straight
// onto the GPU in bf16, fp32 adapters created there, the eval weight cache, merge/unmerge, an adapter saved from
// the GPU and loaded on the CPU, and a few training steps of a bf16 base with fp32 adapters. ctest label `gpu`;
// every test skips, saying why, where prepare_device(cuda) finds no device.
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/optim/adamw.h>
#include <unistd.h>

#include "oft/adapter/oft_linear.h"
#include "oft/device/device.h"
#include "oft/errors.h"
#include "oft/hf/gated_activation.h"
#include "oft/hf/pretrained.h"
#include "oft/hf/rms_norm.h"
#include "oft/hf/rotary_embedding.h"
#include "oft/tuner/oft_model.h"
#include "test_support.h"

namespace oft {
namespace {

namespace fs = std::filesystem;
const c10::Device kCuda(c10::kCUDA, 0);
const std::string kModel = std::string(OFT_GOLDEN_DIR) + "/models/hf/llama_sharded";

#define REQUIRE_CUDA()                                     \
  try {                                                    \
    prepare_device(kCuda);                                 \
  } catch (const UsageError& e) {                          \
    GTEST_SKIP() << "no usable CUDA device: " << e.what(); \
  }

OFTConfig random_config(int64_t block_size) {
  OFTConfig c;
  c.oft_block_size = block_size;
  c.init_weights = false;
  return c;
}

TEST(ModelsOnGpu, EvalWeightCacheOnABf16BaseMatchesTheCpu) {
  REQUIRE_CUDA();
  torch::NoGradGuard no_grad;
  at::manual_seed(5);
  torch::nn::Linear cpu_linear(256, 128);
  OFTLinear cpu_layer(cpu_linear);
  cpu_layer->add_adapter("a", random_config(32));
  cpu_layer->eval();
  torch::nn::Linear gpu_linear(256, 128);
  gpu_linear->weight.copy_(cpu_linear->weight);
  gpu_linear->bias.copy_(cpu_linear->bias);
  gpu_linear->to(kCuda, at::kBFloat16);
  OFTLinear gpu_layer(gpu_linear);
  gpu_layer->add_adapter("a", random_config(32));
  gpu_layer->rotation("a")->weight.copy_(cpu_layer->rotation("a")->weight);
  gpu_layer->eval();
  EXPECT_EQ(gpu_layer->rotation("a")->weight.device(), kCuda);
  EXPECT_EQ(gpu_layer->rotation("a")->weight.scalar_type(), at::kFloat);  // fp32 adapter on a bf16 base

  const at::Tensor x = at::randn({64, 256});
  const at::Tensor reference = cpu_layer->forward(x);
  const at::Tensor cached = gpu_layer->forward(x.to(kCuda, at::kBFloat16));
  gpu_layer->set_eval_weight_cache(false);
  const at::Tensor uncached = gpu_layer->forward(x.to(kCuda, at::kBFloat16));
  EXPECT_EQ(cached.scalar_type(), at::kBFloat16);
  // bf16 keeps 8 significant bits; both paths round one GEMM's inputs to it.
  EXPECT_TRUE(test::close(cached.cpu().to(at::kFloat), reference, 2e-2, "cached bf16 on cuda vs fp32 cpu"));
  EXPECT_TRUE(test::close(uncached.cpu().to(at::kFloat), reference, 2e-2, "uncached bf16 on cuda vs fp32 cpu"));
}

// The GPU normalizes with LibTorch's fused kernels, the CPU with the operators one by one: the same values within
// one bf16 rounding, and the same gradient.
TEST(ModelsOnGpu, RmsNormOnTheGpuMatchesTheCpu) {
  REQUIRE_CUDA();
  at::manual_seed(7);
  const at::Tensor x = (3 * at::randn({4, 9, 2048}) + 1).to(at::kBFloat16);
  const at::Tensor weight = (1 + 0.1 * at::randn({2048})).to(at::kBFloat16);
  const at::Tensor dy = at::randn({4, 9, 2048}).to(at::kBFloat16);
  auto run = [&](const c10::Device& device) {
    const at::Tensor input = x.to(device).requires_grad_();
    const at::Tensor y = models::rms_norm(input, weight.to(device), 1e-5);
    const at::Tensor dx = torch::autograd::grad({y}, {input}, {dy.to(device)})[0];
    return std::make_pair(y.to(at::kCPU, at::kFloat), dx.to(at::kCPU, at::kFloat));
  };
  const auto [cpu_y, cpu_dx] = run(at::kCPU);
  const auto [gpu_y, gpu_dx] = run(kCuda);
  EXPECT_TRUE(test::close(gpu_y, cpu_y, 1.6e-2, "y"));
  EXPECT_TRUE(test::close(gpu_dx, cpu_dx, 1.6e-2, "dx"));
}

// silu(gate) * up: liboft_cuda's one-pass kernels on the GPU, the operators one by one on the CPU.
TEST(ModelsOnGpu, GatedSiluOnTheGpuMatchesTheCpu) {
  REQUIRE_CUDA();
  at::manual_seed(8);
  const at::Tensor gate = (3 * at::randn({4, 9, 704})).to(at::kBFloat16), up = at::randn({4, 9, 704}).to(at::kBFloat16);
  const at::Tensor dy = at::randn({4, 9, 704}).to(at::kBFloat16);
  auto run = [&](const c10::Device& device) {
    const at::Tensor g = gate.to(device).requires_grad_(), u = up.to(device).requires_grad_();
    const at::Tensor y = models::gated_activation("silu", g, u);
    const auto grads = torch::autograd::grad({y}, {g, u}, {dy.to(device)});
    return std::vector<at::Tensor>{y.to(at::kCPU, at::kFloat), grads[0].to(at::kCPU, at::kFloat),
                                   grads[1].to(at::kCPU, at::kFloat)};
  };
  const auto cpu = run(at::kCPU);
  const auto gpu = run(kCuda);
  EXPECT_TRUE(test::close(gpu[0], cpu[0], 1e-2, "y"));
  EXPECT_TRUE(test::close(gpu[1], cpu[1], 1e-2, "d gate"));
  EXPECT_TRUE(test::close(gpu[2], cpu[2], 1e-2, "d up"));
}

// The rotary embedding: liboft_cuda's one-pass kernels on the GPU, the operators on the CPU. Both round each
// product and sum alike (the kernels keep nvcc from fusing them into an FMA, which fp32 would show): bit for bit.
TEST(ModelsOnGpu, RotaryEmbeddingOnTheGpuEqualsTheCpu) {
  REQUIRE_CUDA();
  for (const at::ScalarType dtype : {at::kBFloat16, at::kFloat}) {
    SCOPED_TRACE(c10::toString(dtype));
    at::manual_seed(9);
    const at::Tensor angles = 10 * at::rand({7, 64});
    const at::Tensor cos = angles.cos().to(dtype), sin = angles.sin().to(dtype);
    const at::Tensor x = (3 * at::randn({2, 7, 4, 64})).to(dtype);
    const at::Tensor dy = at::randn({2, 7, 4, 64}).to(dtype);
    auto run = [&](const c10::Device& device) {
      const at::Tensor input = x.to(device).requires_grad_();
      const at::Tensor y = models::rotary_embedding(input, cos.to(device), sin.to(device));
      const at::Tensor dx = torch::autograd::grad({y}, {input}, {dy.to(device)})[0];
      return std::make_pair(y.cpu(), dx.cpu());
    };
    const auto [cpu_y, cpu_dx] = run(at::kCPU);
    const auto [gpu_y, gpu_dx] = run(kCuda);
    EXPECT_TRUE(at::equal(gpu_y, cpu_y));
    EXPECT_TRUE(at::equal(gpu_dx, cpu_dx));
  }
}

TEST(ModelsOnGpu, MergeAndUnmergeOnTheGpu) {
  REQUIRE_CUDA();
  torch::NoGradGuard no_grad;
  at::manual_seed(6);
  torch::nn::Linear linear(128, 64);
  linear->to(kCuda);
  const at::Tensor original = linear->weight.clone();
  OFTLinear layer(linear);
  layer->add_adapter("a", random_config(16));
  layer->eval();
  const at::Tensor x = at::randn({8, 128}, at::TensorOptions().device(kCuda));
  const at::Tensor adapted = layer->forward(x);
  layer->merge();
  EXPECT_TRUE(test::close(layer->forward(x).cpu(), adapted.cpu(), 1e-4, "merged on cuda"));
  layer->unmerge();
  EXPECT_TRUE(test::close(linear->weight.cpu(), original.cpu(), 1e-5, "unmerged weight"));
}

TEST(ModelsOnGpu, CheckpointLoadsOntoTheGpuAndItsAdapterSavesForTheCpu) {
  REQUIRE_CUDA();
  torch::NoGradGuard no_grad;
  at::manual_seed(7);
  auto cpu = models::load_pretrained(kModel);
  auto gpu = models::load_pretrained(kModel, {.device = kCuda, .dtype = at::kBFloat16});
  for (const auto& p : gpu.module->parameters()) {
    EXPECT_EQ(p.device(), kCuda);
    EXPECT_EQ(p.scalar_type(), at::kBFloat16);
  }
  cpu.module->eval();
  gpu.module->eval();
  const at::Tensor ids = at::randint(3, 60, {2, 9}, at::kLong);
  EXPECT_TRUE(test::close(gpu.forward(ids.to(kCuda), {}).cpu().to(at::kFloat), cpu.forward(ids, {}), 5e-2,
                          "bf16 logits on cuda vs fp32 on cpu"));

  OFTConfig config = random_config(8);
  config.target_modules = ModuleSelector::from_names({"q_proj", "v_proj"});
  OFTModel peft(gpu.module, config, {.info = gpu.info});
  for (const auto& [path, layer] : peft.oft_layers()) {
    EXPECT_EQ(layer->rotation("default")->weight.device(), kCuda) << path;
    EXPECT_EQ(layer->rotation("default")->weight.scalar_type(), at::kFloat) << path;
  }
  const fs::path dir = fs::temp_directory_path() / ("oft-gpu-adapter-" + std::to_string(getpid()));
  peft.save_pretrained(dir);
  OFTModel reloaded = OFTModel::from_pretrained(cpu.module, dir, {.info = cpu.info});
  for (const auto& [path, layer] : peft.oft_layers())
    EXPECT_TRUE(at::equal(reloaded.oft_layers().at(path)->rotation("default")->weight,
                          layer->rotation("default")->weight.cpu()))
        << path;
  fs::remove_all(dir);
}

TEST(ModelsOnGpu, ABf16BaseTrainsFp32AdaptersOnTheGpu) {
  REQUIRE_CUDA();
  at::manual_seed(8);
  auto model = models::load_pretrained(kModel, {.device = kCuda, .dtype = at::kBFloat16});
  OFTConfig config;
  config.oft_block_size = 8;
  config.target_modules = ModuleSelector::from_names({"q_proj", "v_proj"});
  OFTModel peft(model.module, config, {.info = model.info});
  model.module->train();
  std::vector<at::Tensor> trainable;
  for (const auto& p : model.module->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  ASSERT_FALSE(trainable.empty());
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(5e-2).weight_decay(0.0));
  const at::Tensor ids = at::randint(3, 60, {4, 12}, at::TensorOptions().device(kCuda).dtype(at::kLong));
  auto loss_of = [&] {
    const at::Tensor logits = model.forward(ids, {});
    return at::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, logits.size(-1)}).to(at::kFloat),
                                  ids.slice(1, 1).reshape({-1}));
  };
  const double first = loss_of().item<double>();
  for (int step = 0; step < 10; ++step) {
    optimizer.zero_grad();
    loss_of().backward();
    optimizer.step();
  }
  // PEFT on the same model and settings lowers it by 0.049-0.074 over 30 random batches: 0.02 leaves a margin.
  EXPECT_LT(loss_of().item<double>(), first - 0.02) << "10 steps on one batch must lower its loss";
  for (const auto& p : trainable) EXPECT_EQ(p.scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace oft
