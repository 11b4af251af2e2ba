// The bnb plugin on a CUDA device against its own CPU path, through the built plugin (which loads
// liboft_bnb_cuda.so from beside itself at the first CUDA tensor). Skips without a CUDA device (label gpu).
// Tolerances: dequantization is bit-exact (same float32 roundings); forwards differ by the summation order
// of the GEMV/GEMM (forward_tolerance).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cuda_test_device.h"
#include "oft/plugin/format_registry.h"
#include "oft/sdk/linear_format.h"
#include "plugin_loading.h"

namespace oft::bnb {
namespace {

class BnbCuda : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!plugin_test::cuda_unavailable_reason().empty()) return;  // every test skips
    host_ = std::make_unique<PluginHostResult>(
        oft::test::load_only_plugin(std::filesystem::path(OFT_BNB_PLUGIN_DIR) / "liboft_backend_bnb.so", "bnb"));
  }
  static void TearDownTestSuite() { host_.reset(); }
  void SetUp() override {
    OFT_REQUIRE_CUDA_OR_SKIP();
    at::manual_seed(0);
  }

  // The same quantized layer twice (quantization is deterministic), the second moved to the GPU.
  struct Pair {
    std::shared_ptr<sdk::LinearModule> cpu, gpu;
  };
  static Pair quantized(const std::string& method, const std::string& options, int64_t out, int64_t in,
                        c10::ScalarType dtype = at::kFloat) {
    const at::Tensor weight = (at::randn({out, in}) * 0.2).to(dtype), bias = at::randn({out}) * 0.1;
    const std::string format = host_->formats->method(method).format;
    Pair p{host_->formats->quantize(format, "layer", weight, bias, options, at::Tensor()),
           host_->formats->quantize(format, "layer", weight, bias, options, at::Tensor())};
    p.gpu->module()->to(at::Device(at::kCUDA));
    return p;
  }

  static double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
    const at::Tensor a = actual.detach().cpu().to(at::kDouble), e = expected.detach().cpu().to(at::kDouble);
    return (a - e).abs().max().item<double>() / std::max(e.abs().max().item<double>(), 1e-12);
  }

  // Of the output's scale: float32 1e-5; float16 and bfloat16 two steps of the dtype.
  static double forward_tolerance(c10::ScalarType dtype) {
    if (dtype == at::kBFloat16) return 1.6e-2;
    if (dtype == at::kHalf) return 2e-3;
    return 1e-5;
  }

  static inline std::unique_ptr<PluginHostResult> host_;
};

std::string four_bit(const std::string& type, int64_t blocksize, bool nested, const std::string& compute = "float32") {
  return "{\"bnb_4bit_quant_type\": \"" + type + "\", \"bnb_4bit_blocksize\": " + std::to_string(blocksize) +
         ", \"bnb_4bit_use_double_quant\": " + (nested ? "true" : "false") + ", \"bnb_4bit_compute_dtype\": \"" +
         compute + "\"}";
}

TEST_F(BnbCuda, MovingToTheGpuKeepsTheWeightPacked) {
  Pair p = quantized("bnb-nf4", four_bit("nf4", 64, true), 32, 64);
  for (const auto& t : p.gpu->module()->parameters()) EXPECT_TRUE(t.is_cuda());
  for (const auto& t : p.gpu->module()->buffers()) EXPECT_TRUE(t.is_cuda());
  const at::Tensor packed = p.gpu->module()->named_parameters()["weight"];
  EXPECT_EQ(packed.scalar_type(), at::kByte);
  EXPECT_EQ(packed.numel(), 32 * 64 / 2);
}

TEST_F(BnbCuda, FourBitDequantizationIsBitExactForEveryBlocksizeAndNesting) {
  for (const std::string type : {"nf4", "fp4"})
    for (int64_t blocksize : {32, 64, 128, 256, 512, 1024, 2048, 4096})
      for (bool nested : {false, true}) {
        SCOPED_TRACE(type + " blocksize " + std::to_string(blocksize) + (nested ? " nested" : ""));
        // 37 x 75: odd element count, a partial last block, rows not aligned to bytes.
        Pair p = quantized(type == "nf4" ? "bnb-nf4" : "bnb-fp4", four_bit(type, blocksize, nested), 37, 75);
        const at::Tensor gpu = p.gpu->dense_weight();
        EXPECT_TRUE(gpu.is_cuda());
        EXPECT_TRUE(at::equal(gpu.cpu(), p.cpu->dense_weight()));
      }
}

TEST_F(BnbCuda, FourBitDequantizationIsBitExactInHalfDtypes) {
  // dense_weight() returns the source weight's dtype: one rounding from float32 on both sides.
  for (c10::ScalarType dtype : {at::kHalf, at::kBFloat16}) {
    Pair p = quantized("bnb-nf4", four_bit("nf4", 64, true), 37, 75, dtype);
    const at::Tensor gpu = p.gpu->dense_weight();
    EXPECT_EQ(gpu.scalar_type(), dtype);
    EXPECT_TRUE(at::equal(gpu.cpu(), p.cpu->dense_weight())) << c10::toString(dtype);
  }
}

TEST_F(BnbCuda, FourBitForwardMatchesTheCpuOnTheGemvAndGemmPaths) {
  for (const std::string type : {"nf4", "fp4"})
    for (bool nested : {false, true})
      // The vectorized GEMV; the element-wise one; and that with an odd element count (every other row starts
      // mid-byte, the last byte holds one code).
      for (auto [out, in] : {std::pair<int64_t, int64_t>{96, 256}, {40, 72}, {37, 75}}) {
        Pair p = quantized(type == "nf4" ? "bnb-nf4" : "bnb-fp4", four_bit(type, 64, nested), out, in);
        p.cpu->module()->eval();
        p.gpu->module()->eval();
        // <= 16: fused GEMV, each of its token bounds (1, 4, 8, 16) partly filled and full; more: dequantize + GEMM.
        for (int64_t tokens : {1, 3, 5, 8, 16, 17, 64}) {
          SCOPED_TRACE(type + (nested ? " nested " : " ") + std::to_string(out) + "x" + std::to_string(in) + ", " +
                       std::to_string(tokens) + " tokens");
          const at::Tensor x = at::randn({tokens, in});
          const at::Tensor y = p.gpu->forward(x.cuda());
          EXPECT_TRUE(y.is_cuda());
          EXPECT_EQ(y.scalar_type(), at::kFloat);
          EXPECT_LT(relative_error(y, p.cpu->forward(x)), 1e-5);
        }
      }
}

TEST_F(BnbCuda, FourBitForwardInHalfComputeDtypesMatchesTheCpu) {
  for (const std::string compute : {"bfloat16", "float16"}) {
    const c10::ScalarType dtype = compute == "bfloat16" ? at::kBFloat16 : at::kHalf;
    for (auto [out, in] : {std::pair<int64_t, int64_t>{128, 256}, {37, 75}}) {  // vectorized and element-wise GEMV
      Pair p = quantized("bnb-nf4", four_bit("nf4", 64, false, compute), out, in);
      // x [batch, seq, hidden]: 1, 2, 5, 8 and 16 tokens on the GEMV, 17 and 64 on the GEMM.
      for (auto [batch, seq] : {std::pair<int64_t, int64_t>{1, 1}, {2, 1}, {1, 5}, {2, 4}, {2, 8}, {1, 17}, {2, 32}}) {
        SCOPED_TRACE(compute + ", " + std::to_string(out) + "x" + std::to_string(in) + ", x [" + std::to_string(batch) +
                     ", " + std::to_string(seq) + ", " + std::to_string(in) + "]");
        const at::Tensor x = at::randn({batch, seq, in}).to(dtype);
        const at::Tensor y = p.gpu->forward(x.cuda());
        EXPECT_EQ(y.scalar_type(), dtype);
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{batch, seq, out}));
        EXPECT_LT(relative_error(y, p.cpu->forward(x)), forward_tolerance(dtype));
      }
    }
  }
}

TEST_F(BnbCuda, FourBitForwardOfStridedAndBatchedInputsMatchesTheCpu) {
  Pair p = quantized("bnb-nf4", four_bit("nf4", 64, true), 96, 256);
  // The same view of the same values, taken on each device: the GPU's x has the view's strides and offset.
  struct Input {
    std::string name;
    at::Tensor values;
    std::function<at::Tensor(const at::Tensor&)> view;
    bool contiguous;
  };
  const auto as_is = [](const at::Tensor& t) { return t; };
  const std::vector<Input> inputs = {
      {"(in, 5)^T", at::randn({256, 5}), [](const at::Tensor& t) { return t.t(); }, false},
      {"(in, 20)^T: the GEMM", at::randn({256, 20}), [](const at::Tensor& t) { return t.t(); }, false},
      {"every other feature of (8, 2 in)", at::randn({8, 512}),
       [](const at::Tensor& t) { return t.slice(1, 0, 512, 2); }, false},
      {"rows 1.. of (4, in): an offset", at::randn({4, 256}), [](const at::Tensor& t) { return t.slice(0, 1); }, true},
      {"[2, 4, in]", at::randn({2, 4, 256}), as_is, true},
      {"[3, 7, in]: the GEMM", at::randn({3, 7, 256}), as_is, true},
      {"[2, 4, in] from [4, 2, in]", at::randn({4, 2, 256}), [](const at::Tensor& t) { return t.transpose(0, 1); },
       false},
  };
  for (const Input& input : inputs) {
    SCOPED_TRACE(input.name);
    const at::Tensor x = input.view(input.values), x_gpu = input.view(input.values.cuda());
    ASSERT_EQ(x_gpu.is_contiguous(), input.contiguous);
    const at::Tensor y = p.gpu->forward(x_gpu);
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = 96;
    EXPECT_EQ(y.sizes(), shape);
    EXPECT_LT(relative_error(y, p.cpu->forward(x)), forward_tolerance(at::kFloat));
  }
}

TEST_F(BnbCuda, FourBitInputGradientMatchesTheCpu) {
  // An input that needs a gradient (OFT training) takes dequantize + GEMM even for few tokens.
  Pair p = quantized("bnb-fp4", four_bit("fp4", 128, true), 64, 128);
  const at::Tensor x = at::randn({4, 128}), upstream = at::randn({4, 64});
  const at::Tensor x_cpu = x.clone().requires_grad_(true), x_gpu = x.cuda().requires_grad_(true);
  (p.cpu->forward(x_cpu) * upstream).sum().backward();
  (p.gpu->forward(x_gpu) * upstream.cuda()).sum().backward();
  ASSERT_TRUE(x_gpu.grad().defined());
  EXPECT_LT(relative_error(x_gpu.grad(), x_cpu.grad()), 1e-5);
}

TEST_F(BnbCuda, FourBitMergeRequantizesToTheCpuBytes) {
  Pair p = quantized("bnb-nf4", four_bit("nf4", 64, true), 32, 64);
  const at::Tensor rotated = at::randn({32, 64}) * 0.2;
  p.cpu->set_dense_weight(rotated);
  p.gpu->set_dense_weight(rotated.cuda());
  EXPECT_TRUE(p.gpu->module()->named_parameters()["weight"].is_cuda());
  EXPECT_TRUE(at::equal(p.gpu->dense_weight().cpu(), p.cpu->dense_weight()));
}

TEST_F(BnbCuda, Int8DequantizationIsBitExactAndForwardMatchesTheCpu) {
  for (const std::string threshold : {"0.0", "6.0"})
    for (const c10::ScalarType dtype : {at::kFloat, at::kHalf}) {
      SCOPED_TRACE("llm_int8_threshold " + threshold + ", x " + c10::toString(dtype));
      Pair p = quantized("bnb-int8", "{\"llm_int8_threshold\": " + threshold + "}", 48, 96);
      EXPECT_TRUE(at::equal(p.gpu->dense_weight().cpu(), p.cpu->dense_weight()));
      // Training: both dequantize and multiply in x's dtype.
      p.cpu->module()->train();
      p.gpu->module()->train();
      const at::Tensor x = (at::randn({5, 96}) * 3).to(dtype);
      const at::Tensor y = p.gpu->forward(x.cuda());
      EXPECT_EQ(y.scalar_type(), dtype);
      EXPECT_LT(relative_error(y, p.cpu->forward(x)), forward_tolerance(dtype));
      // Eval: the CPU quantizes activations to int8 (half a step of 1/127 of a row's absmax); the GPU does not.
      p.cpu->module()->eval();
      p.gpu->module()->eval();
      EXPECT_LT(relative_error(p.gpu->forward(x.cuda()), p.cpu->forward(x)), 1.5e-2);
      const at::Tensor rotated = at::randn({48, 96}) * 0.2;
      p.cpu->set_dense_weight(rotated);
      p.gpu->set_dense_weight(rotated.cuda());
      EXPECT_TRUE(at::equal(p.gpu->dense_weight().cpu(), p.cpu->dense_weight()));
    }
}

}  // namespace
}  // namespace oft::bnb
