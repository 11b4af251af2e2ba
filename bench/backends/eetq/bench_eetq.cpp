// The eetq backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_EetqVsDense/<tokens>/<fp16>/<cached>  eval forward of the int8 layer against the dense fp32 Linear
//       holding the same (dequantized) weight, timed back to back in each iteration; counters dense_ms,
//       eetq_ms and ratio = eetq / dense. fp16 1: fp16 scales and input (EETQ's usual checkpoint), 0: fp32.
//       cached 1: dequantized weight kept (opt-in).
//   BM_BytesPerWeight/<fp16>  checkpoint bytes (int8 weight + scales) per weight: fp16 dense is 2, fp32 4.
//   BM_Layout  undoing (load) and redoing (save) EETQ's arch-80 layout; counters load_ms, save_ms.
// Threads: OFT_BENCH_THREADS (default 2).
#include <chrono>
#include <cstdlib>
#include <functional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eetq_format.h"
#include "eetq_layout.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

std::shared_ptr<oft::sdk::LinearModule> quantized(bool fp16, bool cached = false) {
  at::manual_seed(0);
  const at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  return oft::eetq::EetqFormat(cached).quantize(fp16 ? weight.to(at::kHalf) : weight, at::Tensor(), "{}", at::Tensor());
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_EetqVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  const bool fp16 = state.range(1) != 0;
  auto layer = quantized(fp16, state.range(2) != 0);
  const at::Tensor dense = layer->dense_weight().to(at::kFloat);
  const at::Tensor x = at::randn({state.range(0), kFeatures});
  const at::Tensor xq = x.to(layer->compute_dtype());
  layer->forward(xq);  // warm-up (fills the cache when enabled)
  double dense_ms = 0, eetq_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    eetq_ms += time_ms([&] { benchmark::DoNotOptimize(layer->forward(xq)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["eetq_ms"] = eetq_ms / n;
  state.counters["ratio"] = eetq_ms / dense_ms;
}
BENCHMARK(BM_EetqVsDense)
    ->ArgNames({"tokens", "fp16", "cached"})
    ->Args({1, 1, 0})
    ->Args({64, 1, 0})
    ->Args({1, 0, 0})
    ->Args({64, 0, 0})
    ->Args({1, 1, 1})
    ->Args({64, 1, 1})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  auto layer = quantized(state.range(0) != 0);
  int64_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const auto& [name, tensor] : oft::eetq::EetqFormat().save(*layer)) bytes += tensor.nbytes();
  }
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)->ArgNames({"fp16"})->Arg(1)->Arg(0)->Iterations(1);

void BM_Layout(benchmark::State& state) {
  set_threads();
  const at::Tensor codes = at::randint(-128, 128, {kFeatures, kFeatures}, at::kChar);
  const at::Tensor stored = oft::eetq::to_arch80_layout(codes);
  double load_ms = 0, save_ms = 0;
  for (auto _ : state) {
    load_ms += time_ms([&] { benchmark::DoNotOptimize(oft::eetq::from_arch80_layout(stored)); });
    save_ms += time_ms([&] { benchmark::DoNotOptimize(oft::eetq::to_arch80_layout(codes)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["load_ms"] = load_ms / n;
  state.counters["save_ms"] = save_ms / n;
}
BENCHMARK(BM_Layout)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
