// The operator path (inc_dequant_operators.h), which serves layers off the CPU, run on CPU tensors: the same bits as
// the CPU kernels (inc_fp8_rows.h through dequantize_weight) for every byte of both FP8 formats, every scale dtype,
// per-tensor and per-channel scales, INC's golden checkpoints and natively quantized random weights. A layer on
// another device cannot be made on a CPU-only machine; the `meta` device stands in for one to check the dispatch:
// its dense weight and forward take the operator path (the CPU kernels would read data there), and an input on
// another device than the layer's is an error naming both.
#include <string>

#include "inc_dequant_operators.h"
#include "inc_format.h"
#include "inc_fp8_math.h"
#include "inc_test_data.h"

namespace oft::inc::test {
namespace {

const c10::ScalarType kScaleDtypes[] = {at::kBFloat16, at::kHalf, at::kFloat};

// Equal bits, or both NaN: NaN codes dequantize to NaN either way, and the bf16 and fp16 roundings keep its payload
// in the CPU kernel and not in LibTorch's conversion.
::testing::AssertionResult same_values(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.scalar_type() != expected.scalar_type() || actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "dtype or shape differ";
  const at::Tensor nan = at::isnan(expected);
  if (!at::equal(at::isnan(actual), nan)) return ::testing::AssertionFailure() << "NaN in other places";
  const at::Tensor zero = at::zeros({}, expected.options());
  if (same_bits(at::where(nan, zero, actual), at::where(nan, zero, expected))) return ::testing::AssertionSuccess();
  const at::Tensor differ =
      at::where(nan, zero, actual).to(at::kFloat) != at::where(nan, zero, expected).to(at::kFloat);
  return ::testing::AssertionFailure() << differ.sum().item<int64_t>() << " values differ (or zeros' signs)";
}

// The CPU kernels' W^T (in, out) in the scale's dtype, against the operators'.
::testing::AssertionResult operators_match_cpu_kernels(const at::Tensor& codes, const at::Tensor& scale) {
  return same_values(dequantize_weight_by_operators(codes, scale), dequantize_weight(codes, scale));
}

// Scales as a loaded scale tensor holds them: ordinary, tiny (subnormal products), huge (products that overflow
// fp16), negative and zero.
at::Tensor scales_of_every_kind(c10::ScalarType dtype, int64_t count) {
  at::Tensor s = at::rand({count}) * 0.01 + 1e-4;
  s.index_put_({at::indexing::Slice(0, count, 7)}, 3e-7);
  s.index_put_({at::indexing::Slice(1, count, 11)}, 250.0);
  s.index_put_({at::indexing::Slice(2, count, 13)}, -0.5);
  s.index_put_({at::indexing::Slice(3, count, 17)}, 0.0);
  return s.to(dtype);
}

TEST(IncDequantOperators, EveryByteOfBothFormatsGivesTheCpuKernelsBits) {
  at::manual_seed(11);
  // (in 512, out 96): every byte in every column, so at every lane of the kernels' eight.
  const at::Tensor bytes = at::remainder(at::arange(512).view({-1, 1}) * 7 + at::arange(96), 256).to(at::kByte);
  for (c10::ScalarType fp8 : {at::kFloat8_e4m3fn, at::kFloat8_e5m2}) {
    const at::Tensor codes = bytes.view(fp8);
    for (c10::ScalarType dtype : kScaleDtypes) {
      SCOPED_TRACE(std::string(c10::toString(fp8)) + ", scale " + c10::toString(dtype));
      const at::Tensor per_channel = scales_of_every_kind(dtype, codes.size(1));
      EXPECT_TRUE(operators_match_cpu_kernels(codes, per_channel)) << "per channel";
      for (int64_t n : {0, 1, 2, 3, 5})  // per tensor: each kind of scale
        EXPECT_TRUE(operators_match_cpu_kernels(codes, per_channel[n].clone())) << "per tensor " << n;
    }
  }
}

TEST(IncDequantOperators, GoldenCheckpointsGiveTheCpuLayersDenseWeight) {
  IncFormat format;
  for (const auto& c : golden_cases()) {
    SCOPED_TRACE(c.name);
    auto layer = std::dynamic_pointer_cast<IncLinear>(format.load(c.state(), golden_shape(), c.quantization_config));
    const at::Tensor w = dequantize_weight_by_operators(layer->weight(), layer->weight_scale()).t();
    EXPECT_TRUE(same_bits(w.contiguous(), layer->dense_weight()));
    EXPECT_TRUE(same_bits(w.contiguous(), c.get("dequant").t().contiguous())) << "INC's own dequantized weight";
  }
}

TEST(IncDequantOperators, NativelyQuantizedWeightsGiveTheCpuLayersDenseWeight) {
  at::manual_seed(12);
  at::Tensor w = at::randn({72, 48}) * 0.05;
  w[3].zero_();      // an all-zero row: the per-channel scale's floor
  w[5][7] = 40.0;    // an outlier: small codes elsewhere in its row or tensor
  w[9].mul_(1e-30);  // tiny values: subnormal and zero codes
  const at::Tensor x = at::randn({16, 48});
  IncFormat format;
  for (const char* fp8 : {"E4M3", "E5M2"})
    for (const char* method : {"maxabs_pow2", "maxabs_arbitrary", "act_maxabs_pow2_weights_pcs_maxabs_pow2"})
      for (const char* hp : {"bf16", "fp16", "fp32"}) {
        const std::string options =
            nlohmann::json{{"fp8_config", fp8}, {"scale_method", method}, {"hp_dtype", hp}}.dump();
        SCOPED_TRACE(options);
        for (c10::ScalarType weight_dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
          auto layer =
              std::dynamic_pointer_cast<IncLinear>(format.quantize(w.to(weight_dtype), at::Tensor(), options, x));
          const at::Tensor by_operators = dequantize_weight_by_operators(layer->weight(), layer->weight_scale());
          EXPECT_TRUE(same_values(by_operators.t().contiguous(), layer->dense_weight()));
        }
      }
}

// The layer's tensors on `meta` (no data), where whatever reads data (the CPU kernels) would throw. Built there, as
// Module::to cannot move CPU tensors to meta; without zero points, whose check reads their value (they are optional).
std::shared_ptr<IncLinear> layer_on_meta(const std::string& case_name) {
  const auto c = golden_case(case_name);
  sdk::TensorMap tensors = c.state();
  tensors.erase("dequant_weights.zero_point");
  tensors.erase("quant_input.zero_point");
  for (auto& item : tensors) item.second = item.second.to(at::kMeta);
  return std::dynamic_pointer_cast<IncLinear>(IncFormat().load(tensors, golden_shape(), c.quantization_config));
}

// `call` throws std::invalid_argument with exactly `message`.
template <typename Call>
void expect_message(Call&& call, const std::string& message) {
  try {
    call();
    ADD_FAILURE() << "no error, expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(IncDequantOperators, AnInputOnAnotherDeviceThanTheLayersIsAnError) {
  const auto c = golden_case("e4m3_pow2");
  auto on_cpu = IncFormat().load(c.state(), golden_shape(), c.quantization_config);
  expect_message(
      [&] {
        on_cpu->forward(at::empty({2, 32}, at::device(at::kMeta)));
      },
      "inc: input is on meta, the layer's tensors on cpu");
  auto on_meta = layer_on_meta("e4m3_pow2");
  expect_message([&] { on_meta->forward(at::randn({2, 32})); }, "inc: input is on cpu, the layer's tensors on meta");
}

TEST(IncDequantOperators, ALayerOffTheCpuTakesTheOperatorPath) {
  for (const char* name : {"e4m3_pow2", "e5m2_pow2", "e4m3_pcs_const"}) {
    SCOPED_TRACE(name);
    auto layer = layer_on_meta(name);
    for (const auto& buffer : layer->module()->buffers()) EXPECT_TRUE(buffer.is_meta());
    const at::Tensor w = layer->dense_weight();
    EXPECT_TRUE(w.is_meta());
    EXPECT_EQ(w.scalar_type(), at::kBFloat16);
    EXPECT_EQ(w.sizes(), at::IntArrayRef({64, 32}));
    for (bool cached : {false, true}) {
      layer->set_cache_dequantized(cached);
      for (int64_t tokens : {1, 3, 200})  // the CPU's one-token, tiled and whole-weight paths
        for (c10::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
          const at::Tensor y = layer->forward(at::empty({tokens, 32}, at::device(at::kMeta).dtype(dtype)));
          EXPECT_TRUE(y.is_meta());
          EXPECT_EQ(y.scalar_type(), dtype);
          EXPECT_EQ(y.sizes(), at::IntArrayRef({tokens, 64}));
        }
    }
  }
}

TEST(IncDequantOperators, MergingALayerOffTheCpuQuantizesOnTheCpuAndKeepsItsDevice) {
  auto layer = layer_on_meta("e4m3_pcs_const");
  const at::Tensor weight_before = layer->weight();
  layer->set_dense_weight(at::randn({64, 32}));
  for (const auto& buffer : layer->module()->buffers()) EXPECT_TRUE(buffer.is_meta());
  EXPECT_EQ(layer->weight().scalar_type(), at::kFloat8_e4m3fn);
  EXPECT_EQ(layer->weight().sizes(), at::IntArrayRef({32, 64}));
  EXPECT_EQ(layer->weight_scale().sizes(), at::IntArrayRef({64}));
  EXPECT_TRUE(layer->weight().is_same(weight_before)) << "the layer's buffer object is kept";
}

TEST(IncDequantOperators, TensorsOnMixedDevicesAreAnError) {
  const auto c = golden_case("e4m3_pow2");
  sdk::TensorMap tensors = c.state();
  tensors["dequant_weights.scale"] = tensors["dequant_weights.scale"].to(at::kMeta);
  expect_message([&] { IncFormat().load(tensors, golden_shape(), c.quantization_config); },
                 "inc: tensor \"dequant_weights.scale\" is on meta, the weight on cpu");
}

}  // namespace
}  // namespace oft::inc::test
