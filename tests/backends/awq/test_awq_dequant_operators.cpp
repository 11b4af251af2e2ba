// The operator path (awq_dequant_operators.h, what layers off the CPU dequantize with) on CPU tensors against the CPU
// kernels, bit for bit (both compute (code - zero) * scale in fp32 and round once to the scales dtype): GPTQModel's
// golden checkpoints and natively quantized random weights, every bit width, group size, layout, zero point and
// scales dtype. And the device seam on the CPU: inputs on another device named, a layer on `meta` (standing in for
// CUDA) taking the operator path.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "awq_dequant_cpu.h"
#include "awq_dequant_operators.h"
#include "awq_format.h"
#include "awq_packing.h"
#include "awq_test_data.h"

namespace oft::awq::test {
namespace {

using oft::test::throws_naming;

at::Tensor operator_weight(const AwqLinear& layer) {
  return dequantize_by_operators(layer.qweight(), layer.qzeros(), layer.scales(), layer.config(), layer.in_features(),
                                 layer.out_features());
}

// The layer's tensors with the scales (and bias) in `dtype`.
std::shared_ptr<AwqLinear> with_scales_dtype(const AwqLinear& layer, at::ScalarType dtype) {
  const at::Tensor bias = layer.bias().defined() ? layer.bias().to(dtype) : at::Tensor();
  const sdk::LinearShape shape{layer.in_features(), layer.out_features(), bias.defined()};
  return std::make_shared<AwqLinear>(AwqTensors{layer.qweight(), layer.qzeros(), layer.scales().to(dtype), bias}, shape,
                                     layer.config());
}

// The operator path's weight equals the CPU kernels' (dense_weight) in value, dtype and shape.
void expect_cpu_kernels_weight(const AwqLinear& layer) {
  const at::Tensor cpu = layer.dequantize(), operators = operator_weight(layer);
  EXPECT_EQ(operators.scalar_type(), layer.scales().scalar_type());
  EXPECT_TRUE(at::equal(operators, cpu));
}

TEST(AwqDequantOperators, DecodesTheCodesLikeTheUnpackers) {
  for (const int bits : {2, 3, 4, 8}) {
    for (const int64_t columns : {8, 40, 96}) {  // 3 bits at 8 and 40: the last word cut short
      SCOPED_TRACE(std::to_string(bits) + " bits, " + std::to_string(columns) + " columns");
      at::manual_seed(bits * 100 + columns);
      const at::Tensor codes = at::randint(0, 1 << bits, {5, columns}, at::kLong);
      const at::Tensor packed = pack_gemm(codes, bits);
      const at::Tensor decoded = decode_codes_by_operators(packed, bits, columns, Layout::Gemm);
      EXPECT_EQ(decoded.scalar_type(), at::kInt);
      EXPECT_TRUE(at::equal(decoded.to(at::kLong), codes));
      EXPECT_TRUE(at::equal(decoded, unpack_gemm(packed, bits, columns).to(at::kInt)));
      EXPECT_TRUE(at::equal(decoded.to(at::kFloat), decode_gemm_cpu(packed, bits, columns)));
    }
  }
  // All ones: the sign bit of every word set (arithmetic shifts must not leak into the codes).
  for (const int bits : {2, 3, 4, 8}) {
    const at::Tensor codes = at::full({3, 96}, (1 << bits) - 1, at::kLong);
    EXPECT_TRUE(
        at::equal(decode_codes_by_operators(pack_gemm(codes, bits), bits, 96, Layout::Gemm).to(at::kLong), codes));
  }
  const at::Tensor codes = at::randint(0, 16, {6, 64}, at::kLong);
  const at::Tensor packed = pack_sequential4(codes);
  EXPECT_TRUE(at::equal(decode_codes_by_operators(packed, 4, 64, Layout::Gemv).to(at::kLong), codes));
  EXPECT_TRUE(
      at::equal(decode_codes_by_operators(packed, 4, 64, Layout::Gemv).to(at::kFloat), decode_sequential4_cpu(packed)));
  EXPECT_TRUE(throws_naming([&] { decode_codes_by_operators(packed, 4, 72, Layout::Gemv); }, "needs 9 words per row"));
}

TEST(AwqDequantOperators, GoldenCheckpointsGiveTheCpuKernelsWeight) {
  AwqFormat format;
  for (const auto& c : golden_cases()) {
    auto layer =
        std::dynamic_pointer_cast<AwqLinear>(format.load(checkpoint_tensors(c), c.shape, c.quantization_config));
    for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat}) {
      SCOPED_TRACE(c.name + ", scales " + c10::toString(dtype));
      expect_cpu_kernels_weight(*with_scales_dtype(*layer, dtype));
    }
    EXPECT_TRUE(at::equal(operator_weight(*layer), c.get("dequant")));  // GPTQModel's fp16 weight
  }
}

TEST(AwqDequantOperators, NativelyQuantizedWeightsGiveTheCpuKernelsWeight) {
  const int64_t in = 256, out = 40;  // 40 outputs: 3-bit rows end in a cut word
  at::manual_seed(7);
  const at::Tensor weight = at::randn({out, in}) * 0.05;
  for (const Layout layout : {Layout::Gemm, Layout::Gemv}) {
    for (const int bits : {2, 3, 4, 8}) {
      if (layout == Layout::Gemv && bits != 4) continue;
      for (const int64_t group_size : {16, 32, 64, 128, -1}) {
        for (const bool zero_point : {true, false}) {
          AwqConfig config;
          config.bits = bits, config.group_size = group_size, config.zero_point = zero_point, config.layout = layout;
          for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat}) {
            SCOPED_TRACE(std::string(layout == Layout::Gemm ? "gemm " : "gemv ") + std::to_string(bits) +
                         " bits, group " + std::to_string(group_size) +
                         (zero_point ? ", zero point, " : ", symmetric, ") + c10::toString(dtype));
            const auto layer = make_layer(quantize_rtn(weight.to(dtype), config, dtype), at::Tensor(), config);
            expect_cpu_kernels_weight(*layer);
          }
        }
      }
    }
  }
}

class AwqDeviceSeam : public ::testing::Test {
 protected:
  GoldenCase c = golden_cases().front();  // gemm, 4-bit, group size 128, in 128, out 16
  std::shared_ptr<AwqLinear> layer =
      std::dynamic_pointer_cast<AwqLinear>(AwqFormat().load(checkpoint_tensors(c), c.shape, c.quantization_config));
};

TEST_F(AwqDeviceSeam, InputOnAnotherDeviceIsNamedWithTheLayers) {
  EXPECT_TRUE(throws_naming(
      [&] {
        layer->forward(at::empty({2, 128}, at::TensorOptions().device(at::kMeta)));
      },
      "awq: input is on meta, the layer's tensors on cpu"));
}

TEST_F(AwqDeviceSeam, TensorsOnTwoDevicesAreRefused) {
  auto t = checkpoint_tensors(c);
  t["scales"] = at::empty(t["scales"].sizes(), at::TensorOptions().dtype(at::kHalf).device(at::kMeta));
  EXPECT_TRUE(throws_naming([&] { AwqFormat().load(t, c.shape, c.quantization_config); },
                            "awq: tensor \"scales\" is on meta, \"qweight\" on cpu"));
}

TEST_F(AwqDeviceSeam, LayerOffTheCpuTakesTheOperatorPathInTheScalesDtype) {
  // Loaded from tensors on `meta` (Module::to cannot move CPU tensors there: LibTorch's set_data refuses the type).
  sdk::TensorMap on_meta;
  for (const auto& [name, tensor] : checkpoint_tensors(c)) on_meta[name] = tensor.to(at::kMeta);
  layer = std::dynamic_pointer_cast<AwqLinear>(AwqFormat().load(on_meta, c.shape, c.quantization_config));
  EXPECT_EQ(layer->device(), c10::Device(at::kMeta));
  const at::Tensor w = layer->dense_weight();
  EXPECT_EQ(w.device(), c10::Device(at::kMeta));
  EXPECT_EQ(w.scalar_type(), at::kHalf);
  EXPECT_EQ(w.sizes(), at::IntArrayRef({16, 128}));
  const at::Tensor y = layer->forward(at::empty({3, 2, 128}, at::TensorOptions().device(at::kMeta)));
  EXPECT_EQ(y.scalar_type(), at::kFloat);  // the input's dtype back
  EXPECT_EQ(y.sizes(), at::IntArrayRef({3, 2, 16}));
  EXPECT_TRUE(throws_naming(
      [&] {
        layer->forward(at::zeros({2, 128}));
      },
      "awq: input is on cpu, the layer's tensors on meta"));
}

}  // namespace
}  // namespace oft::awq::test
