// The layer's path off the CPU (hqq_dequant_operators: LibTorch operators on the tensors' device) run on CPU tensors
// against the CPU kernels the layer takes there, bit for bit (each operator computes in fp32 and rounds once, as the
// kernels' steps do): every golden case (1-8 bits, both axes, view_as_float, fp16/bf16/fp32) and natively quantized
// random weights over every packing, group size, axis, dtype, view_as_float and channel_wise false, and step dtypes
// mixed as a hand-built state can hold them. No CUDA here: the meta device stands in for one to show that a layer
// loaded off the CPU dequantizes and runs forward and backward by operators only (no CPU kernel or CPU buffer), and
// that inputs on another device than the layer's are refused by name. (Module::to cannot move a CPU layer to meta:
// set_data refuses it; moving to CUDA is the GPU suite's.)
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "hqq_dequant_operators.h"
#include "hqq_format.h"
#include "hqq_linear.h"
#include "hqq_packing.h"
#include "hqq_quantizer.h"
#include "hqq_test_data.h"

namespace oft::hqq::test {
namespace {

const at::Device kMeta(at::kMeta);

// W_q in the packing's integer dtype, as the layer reads it.
at::Tensor packed_of(const HqqState& state) {
  return state.meta.settings.view_as_float ? state.W_q.view(packed_dtype(state.meta.packing)) : state.W_q;
}

// The operators' weight against the CPU layer's (its kernels), dtype and bits.
void expect_operators_equal_cpu_kernels(const HqqState& state) {
  const at::Tensor by_operators = dequantize_by_operators(packed_of(state), state.meta, state.zero, state.scale);
  const at::Tensor by_kernels = HqqLinear(state).dequantize();
  ASSERT_EQ(by_operators.scalar_type(), by_kernels.scalar_type());
  ASSERT_EQ(by_operators.sizes(), by_kernels.sizes());
  EXPECT_TRUE(at::equal(by_operators, by_kernels))
      << "max difference " << (by_operators.to(at::kDouble) - by_kernels.to(at::kDouble)).abs().max().item<double>();
}

TEST(HqqDequantOperators, EqualTheCpuKernelsAndHqqOnEveryGoldenCase) {
  for (const auto& c : layer_cases()) {
    SCOPED_TRACE(c.name);
    const HqqState state = decode_state(c.state(), golden_shape());
    expect_operators_equal_cpu_kernels(state);
    EXPECT_TRUE(
        at::equal(dequantize_by_operators(packed_of(state), state.meta, state.zero, state.scale), c.get("dequant")));
  }
}

TEST(HqqDequantOperators, EqualTheCpuKernelsForEveryPackingAxisGroupAndDtype) {
  at::manual_seed(11);
  const at::Tensor weight = at::randn({32, 128}) * 0.05;  // 4096 weights: 16 to 256 code rows, all whole planes
  const at::Tensor bias = at::randn({32}) * 0.1;
  for (double nbits : {8.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.58, 1.0})
    for (int axis : {0, 1})
      for (int64_t group_size : {16, 64, 128})
        for (at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat})
          for (bool view_as_float : {false, true}) {
            HqqSettings s;
            s.nbits = nbits;
            s.axis = axis;
            s.group_size = group_size;
            s.view_as_float = view_as_float;
            s.round_zero = nbits == 4;
            SCOPED_TRACE(std::to_string(nbits) + " bits, axis " + std::to_string(axis) + ", group " +
                         std::to_string(group_size) + ", " + c10::toString(dtype) +
                         (view_as_float ? ", view_as_float" : ""));
            expect_operators_equal_cpu_kernels(quantize_state(weight.to(dtype), bias, s, dtype));
          }
}

TEST(HqqDequantOperators, EqualTheCpuKernelsWithoutGroupsAndWithMixedStepDtypes) {
  at::manual_seed(12);
  const at::Tensor weight = at::randn({32, 128}) * 0.05;
  for (double nbits : {4.0, 3.0}) {
    HqqSettings s;
    s.nbits = nbits;
    s.channel_wise = false;  // one scale and zero point (0-d) for the whole weight; no optimizer
    s.optimize = false;
    for (at::ScalarType dtype : {at::kHalf, at::kBFloat16, at::kFloat}) {
      SCOPED_TRACE(std::to_string(nbits) + " bits, channel_wise false, " + c10::toString(dtype));
      expect_operators_equal_cpu_kernels(quantize_state(weight.to(dtype), at::Tensor(), s, dtype));
    }
  }
  // zero and scale in other dtypes than the compute dtype: each step in LibTorch's promoted dtype.
  struct Mixed {
    at::ScalarType compute, zero, scale;
  };
  for (const Mixed& m : {Mixed{at::kHalf, at::kHalf, at::kFloat}, Mixed{at::kBFloat16, at::kHalf, at::kHalf},
                         Mixed{at::kHalf, at::kFloat, at::kBFloat16}, Mixed{at::kBFloat16, at::kBFloat16, at::kHalf}})
    for (int axis : {0, 1}) {
      SCOPED_TRACE(std::string(c10::toString(m.compute)) + " codes, " + c10::toString(m.zero) + " zero, " +
                   c10::toString(m.scale) + " scale, axis " + std::to_string(axis));
      HqqSettings s;
      s.axis = axis;
      HqqState state = quantize_state(weight.to(m.compute), at::Tensor(), s, m.compute);
      state.zero = state.zero.to(m.zero);
      state.scale = state.scale.to(m.scale);
      expect_operators_equal_cpu_kernels(state);
    }
}

// The golden 4-bit axis 1 and 3-bit axis 0 layers, loaded from tensors on the meta device (meta data on the CPU).
std::vector<std::shared_ptr<sdk::LinearModule>> layers_loaded_on_meta() {
  std::vector<std::shared_ptr<sdk::LinearModule>> layers;
  for (const auto& c : layer_cases()) {
    sdk::TensorMap state = c.state();
    for (const char* name : {"W_q", "scale", "zero", "bias"}) state[name] = state[name].to(kMeta);
    layers.push_back(HqqFormat().load(state, golden_shape(), c.quantization_config));
  }
  return layers;
}

TEST(HqqDequantOperators, ALayerOffTheCpuLoadsDequantizesAndRunsByOperatorsOnly) {
  // Meta tensors hold no data: any CPU kernel, CPU buffer or read of a value on the way fails.
  const auto cases = layer_cases();
  const auto layers = layers_loaded_on_meta();
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const auto& layer = layers[i];
    EXPECT_EQ(layer->device(), kMeta);
    for (const auto& buffer : layer->module()->buffers()) EXPECT_TRUE(buffer.is_meta());
    const at::Tensor w = layer->dense_weight();
    EXPECT_TRUE(w.is_meta());
    EXPECT_EQ(w.scalar_type(), cases[i].compute_dtype);
    EXPECT_EQ(w.sizes(), (at::IntArrayRef{16, 64}));
    for (bool cached : {false, true}) {
      std::dynamic_pointer_cast<HqqLinear>(layer)->set_cache_dequantized(cached);
      for (int64_t tokens : {1, 40}) {  // 1: where the CPU takes its few-token paths
        const at::Tensor y = layer->forward(at::empty({tokens, 64}, at::TensorOptions().device(kMeta)));
        EXPECT_TRUE(y.is_meta());
        EXPECT_EQ(y.scalar_type(), at::kFloat);
        EXPECT_EQ(y.sizes(), (at::IntArrayRef{tokens, 16}));
      }
    }
    // Training: the backward dequantizes W again, there too.
    const at::Tensor x = at::empty({8, 64}, at::TensorOptions().device(kMeta)).requires_grad_();
    layer->forward(x).sum().backward();
    EXPECT_TRUE(x.grad().is_meta());
    EXPECT_EQ(x.grad().sizes(), x.sizes());
  }
}

TEST(HqqDequantOperators, InputsOnAnotherDeviceThanTheLayersAreRefusedByName) {
  const auto c = layer_cases().front();
  auto on_cpu = HqqFormat().load(c.state(), golden_shape(), c.quantization_config);
  EXPECT_TRUE(oft::test::throws_naming([&] { on_cpu->forward(c.get("x").to(kMeta)); },
                                       "hqq: input is on meta, the layer's tensors on cpu"));
  auto on_meta = layers_loaded_on_meta().front();
  EXPECT_TRUE(oft::test::throws_naming([&] { on_meta->forward(c.get("x")); },
                                       "hqq: input is on cpu, the layer's tensors on meta"));
}

}  // namespace
}  // namespace oft::hqq::test
