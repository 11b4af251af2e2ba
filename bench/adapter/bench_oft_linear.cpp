// OFT Linear against the bare Linear, fp32 on CPU, the same definitions as bench/adapter/peft_oft_linear.py:
//   fwd     eval, no grad: y = layer(x)  (OFT: the eval weight cache, W . R^T folded once: one GEMM)
//   fwd_nocache  the same with the eval weight cache off (rotation cached, x rotated at every call)
//   fwdbwd  base frozen, x.requires_grad, y.sum().backward()  (OFT: adapter trainable, rotation
//           rebuilt every step as training needs)
// Arguments per run: tokens, features (in = out), block size. bench/adapter/compare_oft_linear.py runs this
// and the PEFT script in one go and prints the ratios.
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/oft_linear.h"

namespace {

struct Setup {
  torch::nn::Linear base{nullptr};
  oft::OFTLinear oft{nullptr};
  at::Tensor x;
};

Setup make_setup(const benchmark::State& state, bool with_oft) {
  at::manual_seed(0);
  const int64_t tokens = state.range(0), features = state.range(1), block = state.range(2);
  Setup s;
  s.base = torch::nn::Linear(features, features);
  for (auto& p : s.base->parameters()) p.set_requires_grad(false);
  if (with_oft) {
    s.oft = oft::OFTLinear(s.base);
    oft::OFTConfig config;
    config.oft_block_size = block;
    config.init_weights = false;
    s.oft->add_adapter("default", config);
  }
  s.x = at::randn({tokens, features});
  return s;
}

void set_threads() {
  at::set_num_threads(static_cast<int>(
      std::max<int64_t>(1, std::stoll(std::getenv("OFT_BENCH_THREADS") ? std::getenv("OFT_BENCH_THREADS") : "2"))));
}

void BM_BareForward(benchmark::State& state) {
  set_threads();
  Setup s = make_setup(state, false);
  s.base->eval();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(s.base->forward(s.x));
}

void BM_OFTForward(benchmark::State& state) {
  set_threads();
  Setup s = make_setup(state, true);
  s.oft->eval();
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(s.oft->forward(s.x));
}

void BM_OFTForwardNoWeightCache(benchmark::State& state) {
  set_threads();
  Setup s = make_setup(state, true);
  s.oft->eval();
  s.oft->set_eval_weight_cache(false);
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(s.oft->forward(s.x));
}

void BM_BareForwardBackward(benchmark::State& state) {
  set_threads();
  Setup s = make_setup(state, false);
  s.x.set_requires_grad(true);
  for (auto _ : state) {
    s.x.mutable_grad() = at::Tensor();
    s.base->forward(s.x).sum().backward();
  }
}

void BM_OFTForwardBackward(benchmark::State& state) {
  set_threads();
  Setup s = make_setup(state, true);
  s.oft->train();
  s.x.set_requires_grad(true);
  auto& adapter = s.oft->rotation("default")->weight;
  for (auto _ : state) {
    s.x.mutable_grad() = at::Tensor();
    adapter.mutable_grad() = at::Tensor();
    s.oft->forward(s.x).sum().backward();
  }
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"tokens", "features", "block"});
  b->Args({2048, 4096, 32});
  b->Args({512, 1024, 16});
  b->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
}

BENCHMARK(BM_BareForward)->Apply(shapes);
BENCHMARK(BM_OFTForward)->Apply(shapes);
BENCHMARK(BM_OFTForwardNoWeightCache)->Apply(shapes);
BENCHMARK(BM_BareForwardBackward)->Apply(shapes);
BENCHMARK(BM_OFTForwardBackward)->Apply(shapes);

}  // namespace

BENCHMARK_MAIN();
