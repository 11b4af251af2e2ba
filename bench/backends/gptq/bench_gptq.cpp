// The gptq backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_GptqVsDense/<tokens>/<bits>/<cached>  eval forward of the quantized layer against the dense fp32
//       Linear holding the same (dequantized) weight, timed back to back in each iteration; counters
//       dense_ms, gptq_ms and ratio = gptq / dense. cached 1: dequantized weight kept (opt-in).
//   BM_BytesPerWeight/<bits>/<group_size>  checkpoint bytes (qweight + qzeros + fp16 scales + g_idx) per
//       weight: fp16 dense is 2, fp32 4.
//   BM_QuantizeGptq/<bits>  one GPTQ run (group 128, act-order) on the 4096 x 4096 weight with 512
//       calibration tokens, against round-to-nearest; counters gptq_s, rtn_s and both output errors.
// Threads: OFT_BENCH_THREADS (default 2).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "gptq_format.h"
#include "gptq_quantizer.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

std::shared_ptr<oft::gptq::GptqLinear> quantized(int bits, int64_t group_size, const at::Tensor& weight) {
  oft::gptq::GptqConfig config;
  config.bits = bits;
  config.group_size = group_size;
  return oft::gptq::make_layer(oft::gptq::quantize_rtn(weight, config), at::Tensor(), config);
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_GptqVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  const int64_t tokens = state.range(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  auto layer = quantized(static_cast<int>(state.range(1)), 128, weight);
  layer->set_cache_dequantized(state.range(2) != 0);
  at::Tensor dense = layer->dequantize().to(at::kFloat);
  at::Tensor x = at::randn({tokens, kFeatures});
  at::Tensor xh = x.to(at::kHalf);
  layer->forward(xh);  // warm-up (fills the cache when enabled)
  double dense_ms = 0, gptq_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    gptq_ms += time_ms([&] { benchmark::DoNotOptimize(layer->forward(xh)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["gptq_ms"] = gptq_ms / n;
  state.counters["ratio"] = gptq_ms / dense_ms;
}
BENCHMARK(BM_GptqVsDense)
    ->ArgNames({"tokens", "bits", "cached"})
    ->Args({1, 4, 0})
    ->Args({16, 4, 0})
    ->Args({64, 4, 0})
    ->Args({128, 4, 0})
    ->Args({512, 4, 0})
    ->Args({1, 3, 0})
    ->Args({1, 4, 1})
    ->Args({64, 4, 1})
    ->Args({64, 3, 0})
    ->Args({64, 8, 0})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  auto layer = quantized(static_cast<int>(state.range(0)), state.range(1), weight);
  for (auto _ : state) benchmark::DoNotOptimize(layer.get());
  int64_t bytes = 0;
  for (const auto& t : {layer->qweight(), layer->qzeros(), layer->scales(), layer->g_idx()}) bytes += t.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)
    ->ArgNames({"bits", "group_size"})
    ->Args({4, 128})
    ->Args({4, 32})
    ->Args({4, -1})
    ->Args({3, 128})
    ->Args({2, 64})
    ->Args({8, 128})
    ->Iterations(1);

double output_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& x) {
  return x.mm((w - q.to(at::kFloat)).t()).norm().item<double>() / x.mm(w.t()).norm().item<double>();
}

void BM_QuantizeGptq(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  at::Tensor x = at::randn({512, kFeatures}) * (1 + at::rand({kFeatures}));
  oft::gptq::GptqConfig config;
  config.bits = static_cast<int>(state.range(0));
  config.desc_act = true;
  std::shared_ptr<oft::gptq::GptqLinear> gptq, rtn;
  double gptq_s = 0, rtn_s = 0;
  for (auto _ : state) {
    gptq_s +=
        time_ms([&] { gptq = oft::gptq::make_layer(oft::gptq::quantize_gptq(weight, x, config), {}, config); }) / 1e3;
    rtn_s += time_ms([&] { rtn = oft::gptq::make_layer(oft::gptq::quantize_rtn(weight, config), {}, config); }) / 1e3;
  }
  state.counters["gptq_s"] = gptq_s;
  state.counters["rtn_s"] = rtn_s;
  state.counters["gptq_error"] = output_error(weight, gptq->dequantize(), x);
  state.counters["rtn_error"] = output_error(weight, rtn->dequantize(), x);
}
BENCHMARK(BM_QuantizeGptq)->ArgNames({"bits"})->Arg(4)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
