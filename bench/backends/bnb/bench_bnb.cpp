// bitsandbytes layers at 4096 x 4096 on CPU: forward time against a dense fp32 Linear in the same run
// (counter "x_dense" = quantized / dense time, measured alternately), and storage per weight (counter
// "bytes_per_weight": every saved tensor, over out*in; the layers have no bias).
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/GradMode.h>

#include "formats.h"

namespace {

constexpr int64_t kFeatures = 4096;

const at::Tensor& weight() {
  static const at::Tensor w = [] {
    at::manual_seed(0);
    return at::randn({kFeatures, kFeatures}) * 0.02;
  }();
  return w;
}

double seconds(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run(benchmark::State& state, const oft::sdk::LinearFormat& format, const std::string& options) {
  c10::AutoGradMode no_grad(false);
  const int64_t batch = state.range(0);
  auto layer = format.quantize(weight(), at::Tensor(), options, at::Tensor());
  layer->eval();
  const at::Tensor x = at::randn({batch, kFeatures});
  // The dense layer runs right before each quantized forward, so the ratio sees the same machine load
  // (this machine is shared with builds).
  double quantized = 0, dense = 0;
  for (auto _ : state) {
    dense += seconds([&] { benchmark::DoNotOptimize(at::linear(x, weight())); });
    const double s = seconds([&] { benchmark::DoNotOptimize(layer->forward(x)); });
    state.SetIterationTime(s);
    quantized += s;
  }
  int64_t bytes = 0;
  for (const auto& [key, t] : format.save(*layer)) bytes += t.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / (kFeatures * kFeatures);
  state.counters["x_dense"] = quantized / dense;
}

void BM_DenseFp32(benchmark::State& state) {
  c10::AutoGradMode no_grad(false);
  const at::Tensor x = at::randn({state.range(0), kFeatures});
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(x, weight()));
  state.counters["bytes_per_weight"] = 4;
}

void BM_Int8(benchmark::State& state) { run(state, oft::bnb::Int8Format(), R"({"llm_int8_threshold": 0.0})"); }
void BM_Int8Threshold6(benchmark::State& state) { run(state, oft::bnb::Int8Format(), "{}"); }
void BM_Nf4(benchmark::State& state) { run(state, oft::bnb::FourBitFormat(), R"({"bnb_4bit_quant_type": "nf4"})"); }
void BM_Nf4Nested(benchmark::State& state) {
  run(state, oft::bnb::FourBitFormat(), R"({"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true})");
}
// Where the 4-bit time goes: dequantizing the weight (done at every forward, as bitsandbytes' CPU path does).
void BM_Nf4DenseWeight(benchmark::State& state) {
  c10::AutoGradMode no_grad(false);
  auto layer =
      oft::bnb::FourBitFormat().quantize(weight(), at::Tensor(), R"({"bnb_4bit_quant_type": "nf4"})", at::Tensor());
  for (auto _ : state) benchmark::DoNotOptimize(layer->dense_weight());
}
void BM_Fp4(benchmark::State& state) { run(state, oft::bnb::FourBitFormat(), "{}"); }

}  // namespace

BENCHMARK(BM_DenseFp32)->Arg(1)->Arg(16)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Int8)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Arg(128)->Arg(129)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Int8Threshold6)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Nf4)->Arg(1)->Arg(4)->Arg(8)->Arg(13)->Arg(16)->Arg(20)->Arg(21)->Arg(64)->Arg(512)->UseManualTime()->Unit(
    benchmark::kMillisecond);
BENCHMARK(BM_Nf4Nested)->Arg(1)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Nf4DenseWeight)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fp4)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
