// The aqlm backend on CPU at LLaMA-7B's 4096 x 4096 projection:
//   BM_AqlmVsDense/<tokens>/<codebooks>/<nbits>/<cached>  eval forward of an fp16 AQLM layer (in groups of 8 inputs)
//       against the dense fp32 Linear holding the same (dequantized) weight, timed back to back in each
//       iteration; counters dense_ms, aqlm_ms and ratio = aqlm / dense. Codes and codebooks are random: the
//       forward's speed does not depend on how well they fit. cached 1: dequantized weight kept (opt-in).
//       Up to 32 tokens the codeword product (aqlm_codeword_product.h), past them the tiled dequantization (33
//       tokens: the first past the limit).
//   BM_BytesPerWeight/<codebooks>/<nbits>/<in_group>/<out_group>  checkpoint bytes (codes + fp16 codebooks +
//       fp16 scales) per weight: fp16 dense is 2, fp32 4.
//   BM_QuantizeAqlm/<size>  the native quantizer (2x8, in groups of 8, defaults) on a size x size weight;
//       counters seconds and the relative weight error.
// Threads: OFT_BENCH_THREADS (default 2).
#include <chrono>
#include <cstdlib>
#include <functional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "aqlm_codes.h"
#include "aqlm_format.h"

namespace {

constexpr int64_t kFeatures = 4096;

void set_threads() {
  const char* threads = std::getenv("OFT_BENCH_THREADS");
  at::set_num_threads(threads ? std::max(1, std::atoi(threads)) : 2);
}

oft::aqlm::AqlmConfig config_of(int64_t codebooks, int64_t nbits, int64_t in_group, int64_t out_group) {
  oft::aqlm::AqlmConfig config;
  config.num_codebooks = codebooks;
  config.nbits_per_codebook = nbits;
  config.in_group_size = in_group;
  config.out_group_size = out_group;
  return config;
}

std::shared_ptr<oft::aqlm::AqlmLinear> random_layer(const oft::aqlm::AqlmConfig& c) {
  at::manual_seed(0);
  const int64_t no = kFeatures / c.out_group_size, ki = kFeatures / c.in_group_size;
  oft::aqlm::AqlmWeights w{
      at::randint(c.codebook_size(), {no, ki, c.num_codebooks}, at::kLong),
      (at::randn({c.num_codebooks, c.codebook_size(), c.out_group_size, c.in_group_size}) * 0.5).to(at::kHalf),
      (at::rand({no, 1, 1, 1}) * 0.02).to(at::kHalf)};
  return oft::aqlm::make_layer(w, at::Tensor(), c);
}

double time_ms(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void BM_AqlmVsDense(benchmark::State& state) {
  set_threads();
  torch::NoGradGuard no_grad;
  auto layer = random_layer(config_of(state.range(1), state.range(2), 8, 1));
  layer->set_cache_dequantized(state.range(3) != 0);
  const at::Tensor dense = layer->dequantize().to(at::kFloat);
  const at::Tensor x = at::randn({state.range(0), kFeatures});
  const at::Tensor xh = x.to(at::kHalf);
  layer->forward(xh);  // warm-up
  double dense_ms = 0, aqlm_ms = 0;
  for (auto _ : state) {
    dense_ms += time_ms([&] { benchmark::DoNotOptimize(at::linear(x, dense)); });
    aqlm_ms += time_ms([&] { benchmark::DoNotOptimize(layer->forward(xh)); });
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["dense_ms"] = dense_ms / n;
  state.counters["aqlm_ms"] = aqlm_ms / n;
  state.counters["ratio"] = aqlm_ms / dense_ms;
}
BENCHMARK(BM_AqlmVsDense)
    ->ArgNames({"tokens", "codebooks", "nbits", "cached"})
    ->Args({1, 1, 16, 0})
    ->Args({8, 1, 16, 0})
    ->Args({32, 1, 16, 0})
    ->Args({33, 1, 16, 0})
    ->Args({64, 1, 16, 0})
    ->Args({1, 2, 8, 0})
    ->Args({4, 2, 8, 0})
    ->Args({8, 2, 8, 0})
    ->Args({16, 2, 8, 0})
    ->Args({32, 2, 8, 0})
    ->Args({33, 2, 8, 0})
    ->Args({64, 2, 8, 0})
    ->Args({1, 2, 8, 1})
    ->Args({64, 2, 8, 1})
    ->Unit(benchmark::kMillisecond);

void BM_BytesPerWeight(benchmark::State& state) {
  auto layer = random_layer(config_of(state.range(0), state.range(1), state.range(2), state.range(3)));
  for (auto _ : state) benchmark::DoNotOptimize(layer.get());
  int64_t bytes = 0;
  for (const auto& t : {layer->codes(), layer->codebooks(), layer->scales()}) bytes += t.nbytes();
  state.counters["bytes_per_weight"] = static_cast<double>(bytes) / static_cast<double>(kFeatures * kFeatures);
}
BENCHMARK(BM_BytesPerWeight)
    ->ArgNames({"codebooks", "nbits", "in_group", "out_group"})
    ->Args({1, 16, 8, 1})
    ->Args({2, 8, 8, 1})
    ->Args({1, 8, 8, 1})
    ->Args({1, 8, 4, 2})
    ->Args({4, 8, 8, 1})
    ->Iterations(1);

void BM_QuantizeAqlm(benchmark::State& state) {
  set_threads();
  at::manual_seed(0);
  const int64_t size = state.range(0);
  const at::Tensor weight = at::randn({size, size}) * 0.02;
  oft::aqlm::AqlmFormat format;
  std::shared_ptr<oft::sdk::LinearModule> layer;
  double seconds = 0;
  for (auto _ : state)
    seconds +=
        time_ms([&] { layer = format.quantize(weight, {}, R"({"num_codebooks": 2, "nbits_per_codebook": 8})", {}); }) /
        1e3;
  state.counters["seconds"] = seconds / static_cast<double>(state.iterations());
  state.counters["relative_error"] =
      (layer->dense_weight().to(at::kFloat) - weight).norm().item<double>() / weight.norm().item<double>();
}
BENCHMARK(BM_QuantizeAqlm)->ArgNames({"size"})->Arg(512)->Arg(1024)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
