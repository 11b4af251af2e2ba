// OFT Linear against the bare Linear on one device and dtype, the definitions of
// bench/gpu/peft_oft_linear_gpu.py (issue 12's first goal):
//   bare_fwd      eval, no grad: y = linear(x)
//   oft_fwd       eval, no grad: y = oft(x)  (adapter unchanged between calls, as in any eval use)
//   bare_fwdbwd   weight and bias frozen, x.requires_grad: y = linear(x); y.backward(g)  (input gradient)
//   oft_fwdbwd    base frozen, adapter trainable: y = oft(x); y.backward(g)  (input and adapter gradients)
// for in = out = --features, block --block, each of --tokens. Prints one JSON object (times in ms). The two sides of
// each ratio (bare_fwd and oft_fwd, bare_fwdbwd and oft_fwdbwd) are timed in turns (measure_interleaved), one call at
// a time on an idle GPU, and again with the GPU's queue kept full (*_queued, oft::bench::QueuedTimer).
//   bench_gpu_oft_linear [--device cuda] [--dtype bf16] [--tokens 8192,2048] [--features 4096] [--block 32]
//                        [--budget-s 1] [--small] [--cuda-cores]
//   --small: 64 tokens x 256 features x block 16, for CPU smoke runs; --cuda-cores: the rotation kernels without
//   the tensor cores (OFT_CUDA_TENSOR_CORES=0), reported as impl "oft_cuda_cores", to compare the two in one run.

#include <cstdlib>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "bench_args.h"
#include "gpu_bench_common.h"
#include "oft/adapter/oft_linear.h"
#include "oft/device/device.h"

namespace {

using oft::bench::measurement;

void bench_tokens(int64_t tokens, int64_t features, int64_t block, const c10::Device& device, c10::ScalarType dtype,
                  const oft::bench::TimingOptions& timing, nlohmann::json& out) {
  at::manual_seed(0);
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  torch::nn::Linear base(features, features);
  base->to(device, dtype);
  for (auto& p : base->parameters()) p.set_requires_grad(false);
  const at::Tensor x = at::randn({tokens, features}, options);
  const at::Tensor grad = at::randn({tokens, features}, options);
  const std::string prefix = "oft_linear.t" + std::to_string(tokens) + ".";
  auto record = [&](const std::string& name, const oft::bench::Timing& t) {
    out["measurements"].push_back(measurement(prefix + name, t.median_ms, "ms", t.samples));
  };

  oft::OFTLinear layer(base);  // base stays callable on its own: the bare layer
  oft::OFTConfig config;
  config.oft_block_size = block;
  config.init_weights = false;  // a random rotation: no identity shortcut anywhere
  layer->add_adapter("default", config);

  // Each pair in turns (measure_interleaved): the ratio's two sides under the same clocks. Then the same pair
  // with the GPU's queue kept full (*_queued): the GPU's own time per call, so that the difference between the
  // two ratios is what the host's work per call adds to one call on an idle GPU.
  oft::bench::QueuedTimer queued(device);
  oft::bench::TimingOptions queued_timing = timing;
  queued_timing.min_samples = 5;
  queued_timing.budget_s = timing.budget_s / 4;
  auto time_pair = [&](const std::string& bare_name, const std::string& oft_name,
                       const std::vector<std::function<void()>>& pair) {
    const auto t = oft::bench::measure_interleaved(device, pair, timing);
    record(bare_name, t[0]);
    record(oft_name, t[1]);
    try {  // a call that waits for the GPU cannot be queued: reported, and the other pairs still run
      const auto q = oft::bench::measure_interleaved(device, pair, queued_timing, std::ref(queued));
      record(bare_name + "_queued", q[0]);
      record(oft_name + "_queued", q[1]);
    } catch (const std::exception& e) {
      out["errors"].push_back(prefix + oft_name + "_queued: " + e.what());
    }
  };
  layer->eval();
  {
    torch::NoGradGuard no_grad;
    time_pair("bare_fwd", "oft_fwd", {[&] { base->forward(x); }, [&] { layer->forward(x); }});
  }
  layer->train();
  auto& adapter = layer->rotation("default")->weight;
  const at::Tensor x_bare = x.detach().clone().set_requires_grad(true);
  const at::Tensor x_oft = x.detach().clone().set_requires_grad(true);
  time_pair("bare_fwdbwd", "oft_fwdbwd",
            {[&] {
               x_bare.mutable_grad() = at::Tensor();
               base->forward(x_bare).backward(grad);
             },
             [&] {
               x_oft.mutable_grad() = at::Tensor();
               adapter.mutable_grad() = at::Tensor();
               layer->forward(x_oft).backward(grad);
             }});
  out["adapter_dtype"] = oft::dtype_name(adapter.scalar_type());
}

}  // namespace

int main(int argc, char** argv) {
  return oft::bench::run_report("oft_linear", [&](nlohmann::json& out) {
    const oft::bench::Args args(argc, argv, {"--device", "--dtype", "--tokens", "--features", "--block", "--budget-s"},
                                {"--small", "--cuda-cores"});
    const bool small = args.has("--small");
    if (args.has("--cuda-cores")) {
      setenv("OFT_CUDA_TENSOR_CORES", "0", /*overwrite=*/1);  // before liboft_cuda reads it
      out["impl"] = "oft_cuda_cores";
    }
    const c10::Device device = oft::bench::with_index(oft::parse_device(args.get("--device", "cuda")));
    const c10::ScalarType dtype = oft::parse_dtype(args.get("--dtype", "bf16"));
    oft::prepare_device(device);
    const auto tokens = args.integers("--tokens", small ? "64" : "8192,2048");
    const auto features = static_cast<int64_t>(args.number("--features", small ? 256 : 4096));
    const auto block = static_cast<int64_t>(args.number("--block", small ? 16 : 32));
    oft::bench::TimingOptions timing;
    timing.budget_s = args.number("--budget-s", small ? 0.05 : 1.0);
    if (small) timing.min_samples = 3;
    out["device"] = device.str();
    out["dtype"] = oft::dtype_name(dtype);
    out["config"] = {{"features", features},
                     {"block", block},
                     {"tokens", tokens},
                     {"bias", true},
                     {"timing", "median of CUDA-event times (wall clock on cpu)"},
                     {"warmup", timing.warmup}};
    for (const int64_t t : tokens) {
      try {
        bench_tokens(t, features, block, device, dtype, timing, out);
      } catch (const std::exception& e) {  // one size failing (e.g. out of memory) leaves the others
        out["errors"].push_back("tokens " + std::to_string(t) + ": " + e.what());
      }
      oft::bench::print_report(out);
    }
  });
}
