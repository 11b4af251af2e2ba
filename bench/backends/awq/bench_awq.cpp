// The awq backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_AwqVsDense/<tokens>/<bits>/<gemv>/<cached>  eval forward of the quantized layer against the dense
//       fp32 Linear holding the same (dequantized) weight, timed back to back in each iteration; counters
//       dense_ms, awq_ms and ratio = awq / dense. cached 1: dequantized weight kept (opt-in).
//   BM_BytesPerWeight/<bits>/<group_size>/<gemv>  checkpoint bytes (qweight + qzeros + fp16 scales) per
//       weight: fp16 dense is 2, fp32 4.
//   BM_QuantizeAwq/<bits>  the clipping search (group 128) on the 4096 x 4096 weight with 512 calibration
//       tokens, against round-to-nearest; counters awq_s, rtn_s and both output errors.
//   BM_SearchInputScale/<bits>  AWQ's input scale search on the same weight (inputs with outlier
//       channels); counters search_s, the chosen ratio and the output error after scaling + clipping.
// Threads: OFT_BENCH_THREADS (default 2).
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "awq_format.h"
#include "awq_quantizer.h"
#include "awq_scale_search.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

oft::awq::AwqConfig config_of(int64_t bits, int64_t group_size, bool gemv) {
  oft::awq::AwqConfig config;
  config.bits = static_cast<int>(bits);
  config.group_size = group_size;
  config.layout = gemv ? oft::awq::Layout::Gemv : oft::awq::Layout::Gemm;
  return config;
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_AwqVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  const int64_t tokens = state.range(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  const auto config = config_of(state.range(1), 128, state.range(2) != 0);
  auto layer = oft::awq::make_layer(oft::awq::quantize_rtn(weight, config, at::kHalf), at::Tensor(), config);
  layer->set_cache_dequantized(state.range(3) != 0);
  at::Tensor dense = layer->dequantize().to(at::kFloat);
  at::Tensor x = at::randn({tokens, kFeatures});
  at::Tensor xh = x.to(at::kHalf);
  layer->forward(xh);  // warm-up (fills the cache when enabled)
  double dense_ms = 0, awq_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    awq_ms += time_ms([&] { benchmark::DoNotOptimize(layer->forward(xh)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["awq_ms"] = awq_ms / n;
  state.counters["ratio"] = awq_ms / dense_ms;
}
BENCHMARK(BM_AwqVsDense)
    ->ArgNames({"tokens", "bits", "gemv", "cached"})
    ->Args({1, 4, 0, 0})
    ->Args({16, 4, 0, 0})
    ->Args({64, 4, 0, 0})
    ->Args({1, 4, 0, 1})
    ->Args({64, 4, 0, 1})
    ->Args({1, 4, 1, 0})
    ->Args({16, 4, 1, 0})
    ->Args({64, 4, 1, 0})
    ->Args({64, 3, 0, 0})
    ->Args({64, 8, 0, 0})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  const auto config = config_of(state.range(0), state.range(1), state.range(2) != 0);
  auto layer = oft::awq::make_layer(oft::awq::quantize_rtn(weight, config, at::kHalf), at::Tensor(), config);
  for (auto _ : state) benchmark::DoNotOptimize(layer.get());
  int64_t bytes = 0;
  for (const auto& t : {layer->qweight(), layer->qzeros(), layer->scales()}) bytes += t.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)
    ->ArgNames({"bits", "group_size", "gemv"})
    ->Args({4, 128, 0})
    ->Args({4, 32, 0})
    ->Args({4, -1, 0})
    ->Args({3, 128, 0})
    ->Args({2, 64, 0})
    ->Args({8, 128, 0})
    ->Args({4, 128, 1})
    ->Iterations(1);

double output_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& x) {
  return x.mm((w - q.to(at::kFloat)).t()).norm().item<double>() / x.mm(w.t()).norm().item<double>();
}

void BM_QuantizeAwq(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  at::Tensor x = at::randn({512, kFeatures}) * (1 + at::rand({kFeatures}));
  const auto config = config_of(state.range(0), 128, false);
  std::shared_ptr<oft::awq::AwqLinear> awq, rtn;
  double awq_s = 0, rtn_s = 0;
  for (auto _ : state) {
    awq_s +=
        time_ms([&] { awq = oft::awq::make_layer(oft::awq::quantize_awq(weight, x, config, at::kHalf), {}, config); }) /
        1e3;
    rtn_s +=
        time_ms([&] { rtn = oft::awq::make_layer(oft::awq::quantize_rtn(weight, config, at::kHalf), {}, config); }) /
        1e3;
  }
  state.counters["awq_s"] = awq_s;
  state.counters["rtn_s"] = rtn_s;
  state.counters["awq_error"] = output_error(weight, awq->dequantize(), x);
  state.counters["rtn_error"] = output_error(weight, rtn->dequantize(), x);
}
BENCHMARK(BM_QuantizeAwq)->ArgNames({"bits"})->Arg(4)->Iterations(1)->Unit(benchmark::kSecond);

// AWQ's input scale search for one 4096 x 4096 linear (20 candidate scales, each quantized and scored on
// 512 calibration rows with a few outlier channels), then clipping + round-to-nearest on the scaled weight.
void BM_SearchInputScale(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  at::manual_seed(0);
  at::Tensor weight = at::randn({kFeatures, kFeatures}) * 0.02;
  at::Tensor channel_scale = 1 + at::rand({kFeatures});
  channel_scale.index_put_({at::arange(0, kFeatures, 64)}, 20.0);
  at::Tensor x = at::randn({512, kFeatures}) * channel_scale;
  const auto config = config_of(state.range(0), 128, false);
  oft::awq::ScaleSearchResult found;
  std::shared_ptr<oft::awq::AwqLinear> scaled;
  double search_s = 0;
  for (auto _ : state) {
    search_s += time_ms([&] { found = oft::awq::search_input_scale({weight}, x, config); }) / 1e3;
    scaled = oft::awq::make_layer(oft::awq::quantize_awq(weight * found.scale, x / found.scale, config, at::kHalf), {},
                                  config);
  }
  state.counters["search_s"] = search_s;
  state.counters["ratio"] = found.ratio;
  state.counters["scaled_error"] = output_error(weight, scaled->dequantize().to(at::kFloat) / found.scale, x);
}
BENCHMARK(BM_SearchInputScale)->ArgNames({"bits"})->Arg(4)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
