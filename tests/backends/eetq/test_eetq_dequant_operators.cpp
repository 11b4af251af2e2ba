// The operator path (eetq_dequant_operators.h, what layers off the CPU dequantize with) on CPU tensors against the CPU
// kernel on both its paths, bit for bit (both compute q * scale in fp32 and round once to the scales dtype): the
// format-derived golden checkpoints and natively quantized random weights, fp16 and fp32 scales (EETQ has no bf16),
// with and without bias. And the device seam on the CPU: inputs on another device named, a layer on `meta` (standing
// in for CUDA) taking the operator path.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "eetq_dequant_operators.h"
#include "eetq_format.h"
#include "eetq_quantizer.h"
#include "eetq_test_data.h"

namespace oft::eetq::test {
namespace {

// The operator path's W^T equals the CPU kernel's on both rounding paths and the layer's dense weight, in value,
// dtype and shape.
void expect_cpu_kernels_weight(const EetqLinear& layer) {
  const at::Tensor operators = dequantize_kn_by_operators(layer.codes(), layer.weight_scales());
  EXPECT_EQ(operators.scalar_type(), layer.weight_scales().scalar_type());
  EXPECT_TRUE(at::equal(operators.t(), layer.dequantize()));
  for (const sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
    const at::Tensor kernel = at::empty(layer.codes().sizes(), at::kFloat);
    dequantize_float_kn_into(layer.codes(), layer.weight_scales(), kernel, path);
    EXPECT_TRUE(at::equal(operators.to(at::kFloat), kernel))
        << (path == sdk::RoundingPath::kFastest ? "fastest" : "portable");
  }
}

TEST(EetqDequantOperators, GoldenCheckpointsGiveTheCpuKernelsWeight) {
  EetqFormat format;
  for (const auto& c : golden_cases()) {
    auto layer =
        std::dynamic_pointer_cast<EetqLinear>(format.load(checkpoint_tensors(c), c.shape, c.quantization_config));
    for (const at::ScalarType dtype : {at::kHalf, at::kFloat}) {
      SCOPED_TRACE(c.name + ", scales " + c10::toString(dtype));
      const EetqLinear other(layer->codes(), layer->weight_scales().to(dtype), layer->bias(), c.shape);
      expect_cpu_kernels_weight(other);
    }
    const at::Tensor expected = (c.get("codes").to(at::kDouble) * c.get("weight_scales").to(at::kDouble))
                                    .to(c.get("weight_scales").scalar_type());
    EXPECT_TRUE(at::equal(dequantize_kn_by_operators(layer->codes(), layer->weight_scales()), expected));
  }
}

TEST(EetqDequantOperators, NativelyQuantizedWeightsGiveTheCpuKernelsWeight) {
  EetqFormat format;
  at::manual_seed(11);
  for (const auto& [out, in] : {std::pair<int64_t, int64_t>{64, 64}, {128, 192}, {192, 64}}) {
    at::Tensor weight = at::randn({out, in}) * at::rand({out, 1}) * 0.2;
    weight[3].zero_();                                                           // an all-zero channel: scale 0
    weight[5][7] = 1e-6;                                                         // fp16 subnormal products
    for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat}) {  // scales fp16, fp32, fp32
      for (const bool bias : {true, false}) {
        SCOPED_TRACE(std::to_string(out) + " x " + std::to_string(in) + ", weight " + c10::toString(dtype) +
                     (bias ? ", bias" : ""));
        const auto layer = std::dynamic_pointer_cast<EetqLinear>(
            format.quantize(weight.to(dtype), bias ? at::randn({out}).to(dtype) : at::Tensor(), "{}", at::Tensor()));
        expect_cpu_kernels_weight(*layer);
      }
    }
  }
}

class EetqDeviceSeam : public ::testing::Test {
 protected:
  GoldenCase c = golden_cases().front();  // float16, with bias, 64 -> 128
  EetqFormat format;
};

TEST_F(EetqDeviceSeam, InputOnAnotherDeviceIsNamedWithTheLayers) {
  auto layer = format.load(checkpoint_tensors(c), c.shape, c.quantization_config);
  EXPECT_TRUE(throws_naming(
      [&] {
        layer->forward(at::ones({2, 64}, at::TensorOptions().device(at::kMeta)));
      },
      "eetq: input is on meta, the layer's tensors on cpu"));
}

TEST_F(EetqDeviceSeam, TensorsOnTwoDevicesAreRefused) {
  auto t = checkpoint_tensors(c);
  t["weight_scales"] = t["weight_scales"].to(at::kMeta);
  EXPECT_TRUE(throws_naming([&] { format.load(t, c.shape, c.quantization_config); },
                            "eetq: tensor \"weight_scales\" is on meta, \"weight\" on cpu"));
}

TEST_F(EetqDeviceSeam, LayerOffTheCpuTakesTheOperatorPathInTheScalesDtype) {
  // Loaded from tensors on `meta` (Module::to cannot move CPU tensors there: LibTorch's set_data refuses the type).
  sdk::TensorMap on_meta;
  for (const auto& [name, tensor] : checkpoint_tensors(c)) on_meta[name] = tensor.to(at::kMeta);
  auto layer = format.load(on_meta, c.shape, c.quantization_config);
  EXPECT_EQ(layer->device(), c10::Device(at::kMeta));
  const at::Tensor w = layer->dense_weight();
  EXPECT_EQ(w.device(), c10::Device(at::kMeta));
  EXPECT_EQ(w.scalar_type(), at::kHalf);
  EXPECT_EQ(w.sizes(), at::IntArrayRef({128, 64}));
  const at::Tensor y = layer->forward(at::empty({3, 2, 64}, at::TensorOptions().device(at::kMeta)));
  EXPECT_EQ(y.scalar_type(), at::kFloat);  // the input's dtype back
  EXPECT_EQ(y.sizes(), at::IntArrayRef({3, 2, 128}));
  const sdk::TensorMap saved = format.save(*layer);  // the layout redone where the tensors are
  EXPECT_EQ(saved.at("weight").device(), c10::Device(at::kMeta));
  EXPECT_EQ(saved.at("weight").sizes(), at::IntArrayRef({64, 128}));
  EXPECT_TRUE(throws_naming(
      [&] {
        layer->forward(at::ones({2, 64}));
      },
      "eetq: input is on cpu, the layer's tensors on meta"));
}

}  // namespace
}  // namespace oft::eetq::test
