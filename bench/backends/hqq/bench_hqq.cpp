// The hqq backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_HqqVsDense/<tokens>/<nbits>/<cached>  eval forward of the quantized layer (fp16 compute dtype,
//       group 64, axis 1) against the dense fp32 Linear holding the same (dequantized) weight, timed back to
//       back in each iteration; counters dense_ms, hqq_ms and ratio = hqq / dense. cached
//       1: dequantized weight kept (opt-in); 0: up to 12 tokens straight from the codes (hqq_code_row_product.h,
//       x86 with AVX2; 24 with AVX-512F), up to 128 a tile of W at a time, past those the
//       whole weight dequantized on every call, as hqq's PyTorch backend does.
//   BM_BytesPerWeight/<nbits>/<group_size>  checkpoint bytes (W_q + fp16 scale and zero + meta tensors)
//       per weight: fp16 dense is 2, fp32 4.
//   BM_QuantizeHqq/<nbits>  one HQQ quantization (group 64, axis 1, the proximal optimizer) of the
//       4096 x 4096 weight; counters hqq_s, and the mean |W - dequant| with and without the optimizer.
// Threads: OFT_BENCH_THREADS (default 2).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "hqq_linear.h"
#include "hqq_quantizer.h"
#include "hqq_state.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

oft::hqq::HqqSettings settings(double nbits, int64_t group_size, bool optimize) {
  oft::hqq::HqqSettings s;
  s.nbits = nbits;
  s.group_size = group_size;
  s.round_zero = nbits == 4;
  s.optimize = optimize;
  return s;
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_HqqVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  const int64_t tokens = state.range(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  // Speed does not depend on the code values: skip the optimizer to keep set-up short.
  oft::hqq::HqqLinear layer(oft::hqq::quantize_state(
      weight, at::Tensor(), settings(static_cast<double>(state.range(1)), 64, false), at::kHalf));
  layer.set_cache_dequantized(state.range(2) != 0);
  at::Tensor dense = layer.dequantize().to(at::kFloat);
  at::Tensor x = at::randn({tokens, kFeatures});
  at::Tensor xh = x.to(at::kHalf);
  layer.forward(xh);  // warm-up (fills the cache when enabled)
  double dense_ms = 0, hqq_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    hqq_ms += time_ms([&] { benchmark::DoNotOptimize(layer.forward(xh)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["hqq_ms"] = hqq_ms / n;
  state.counters["ratio"] = hqq_ms / dense_ms;
}
BENCHMARK(BM_HqqVsDense)
    ->ArgNames({"tokens", "nbits", "cached"})
    ->Args({1, 4, 0})
    ->Args({4, 4, 0})
    ->Args({8, 4, 0})
    ->Args({13, 4, 0})
    ->Args({16, 4, 0})
    ->Args({24, 4, 0})
    ->Args({25, 4, 0})
    ->Args({64, 4, 0})
    ->Args({1, 4, 1})
    ->Args({64, 4, 1})
    ->Args({64, 3, 0})
    ->Args({64, 2, 0})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  oft::hqq::HqqState q = oft::hqq::quantize_state(
      weight, at::Tensor(), settings(static_cast<double>(state.range(0)), state.range(1), false), at::kHalf);
  for (auto _ : state) benchmark::DoNotOptimize(q.W_q.data_ptr());
  int64_t bytes = 0;
  for (const auto& item : oft::hqq::encode_state(q)) bytes += item.second.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)
    ->ArgNames({"nbits", "group_size"})
    ->Args({8, 64})
    ->Args({4, 64})
    ->Args({4, 128})
    ->Args({3, 64})
    ->Args({2, 16})
    ->Args({1, 16})
    ->Iterations(1);

void BM_QuantizeHqq(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  const double nbits = static_cast<double>(state.range(0));
  double hqq_s = 0;
  oft::hqq::HqqState optimized;
  for (auto _ : state)
    hqq_s += time_ms([&] {
               optimized = oft::hqq::quantize_state(weight, at::Tensor(), settings(nbits, 64, true), at::kFloat);
             }) /
             1e3;
  auto error = [&](const oft::hqq::HqqState& q) {
    return (oft::hqq::HqqLinear(q).dequantize() - weight).abs().mean().item<double>();
  };
  state.counters["hqq_s"] = hqq_s;
  state.counters["optimized_error"] = error(optimized);
  state.counters["minmax_error"] =
      error(oft::hqq::quantize_state(weight, at::Tensor(), settings(nbits, 64, false), at::kFloat));
}
BENCHMARK(BM_QuantizeHqq)->ArgNames({"nbits"})->Arg(4)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
