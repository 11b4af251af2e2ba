// The inc backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_IncVsDense/<tokens>/<e5m2>/<per_channel>/<cached>  eval forward of the FP8 layer (input QDQ,
//       weight dequantized, fp32 matmul rounded to bf16) against the dense fp32 Linear holding the same
//       dequantized weight, timed back to back in each iteration; counters dense_ms, inc_ms and
//       ratio = inc / dense. cached 1: dequantized weight kept (opt-in plugin config).
//   BM_BytesPerWeight/<per_channel>  checkpoint bytes (fp8 weight + bf16 scales) per weight: fp16 dense is
//       2, fp32 4.
// Threads: OFT_BENCH_THREADS (default 2).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "inc_format.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

std::shared_ptr<oft::inc::IncLinear> quantized(bool e5m2, bool per_channel, const at::Tensor& weight,
                                               const at::Tensor& calibration) {
  std::string options = std::string(R"({"fp8_config": ")") + (e5m2 ? "E5M2" : "E4M3") + R"(", "scale_method": ")" +
                        (per_channel ? "act_maxabs_pow2_weights_pcs_maxabs_pow2" : "maxabs_pow2") + R"("})";
  return std::dynamic_pointer_cast<oft::inc::IncLinear>(
      oft::inc::IncFormat().quantize(weight, at::Tensor(), options, calibration));
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_IncVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  const int64_t tokens = state.range(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  at::Tensor x = at::randn({tokens, kFeatures});
  auto layer = quantized(state.range(1) != 0, state.range(2) != 0, weight, at::randn({64, kFeatures}));
  layer->set_cache_dequantized(state.range(3) != 0);
  at::Tensor dense = layer->dense_weight().to(at::kFloat);
  at::Tensor xb = x.to(at::kBFloat16);
  layer->forward(xb);  // warm-up (fills the cache when enabled)
  double dense_ms = 0, inc_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    inc_ms += time_ms([&] { benchmark::DoNotOptimize(layer->forward(xb)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["inc_ms"] = inc_ms / n;
  state.counters["ratio"] = inc_ms / dense_ms;
}
BENCHMARK(BM_IncVsDense)
    ->ArgNames({"tokens", "e5m2", "per_channel", "cached"})
    ->Args({1, 0, 0, 0})
    ->Args({16, 0, 0, 0})
    ->Args({64, 0, 0, 0})
    ->Args({1, 0, 0, 1})
    ->Args({64, 0, 0, 1})
    ->Args({64, 1, 0, 0})
    ->Args({64, 0, 1, 0})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  auto layer = quantized(false, state.range(0) != 0, weight, at::randn({8, kFeatures}));
  for (auto _ : state) benchmark::DoNotOptimize(layer.get());
  int64_t bytes = 0;
  for (const auto& [name, t] : oft::inc::IncFormat().save(*layer)) bytes += t.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)->ArgNames({"per_channel"})->Arg(0)->Arg(1)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
