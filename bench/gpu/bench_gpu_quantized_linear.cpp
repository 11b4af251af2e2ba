// A quantized linear made by a plugin's quantize method (--method, loaded as `oft` loads plugins; e.g.
// NF4 for issue 12's third goal) against the dense linear of the same shape in --dtype, forward only,
// eval, no grad: 1 token (a GEMV, where reading fewer bytes should show) and 2048 tokens (a GEMM plus
// dequantization). --options is merged over the method's default options (e.g. the compute dtype).
// Also reports how far its output is from x·Wq^T with its own dequantized weight (a sanity check that
// the timed path computes the right thing). Each pair is timed twice: one call at a time on an idle GPU
// (dense_fwd, quantized_fwd: what one isolated call costs, host work included) and back to back with the GPU's
// queue kept full (*_queued: the GPU's time per call, as in a decode loop whose host runs ahead). On a GPU the calls
// go round copies of both layers (config.copies) holding at least 128 MiB of quantized weights, so no weight is
// still in L2 (50-60 MB on an H100/H200) when it is read again: a model's layers are read from memory. Prints one
// JSON object (times in ms).
//   bench_gpu_quantized_linear --method NAME [--options JSON] [--device cuda] [--dtype bf16]
//                              [--tokens 1,2048] [--features 4096] [--small]

#include <ATen/ops/linear.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "bench_args.h"
#include "gpu_bench_common.h"
#include "oft/device/device.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"

namespace {

using oft::bench::measurement;

// Quantized weights the calls go round on a GPU (4-bit codes: features² / 2 bytes a copy), at most kMaxCopies.
constexpr int64_t kColdBytes = int64_t{128} << 20;
constexpr int64_t kMaxCopies = 64;

std::shared_ptr<oft::sdk::LinearModule> quantize(const at::Tensor& weight, const std::string& method_name,
                                                 const std::string& overrides) {
  const oft::PluginHostResult plugins = oft::load_plugins({});
  const oft::MethodInfo method = plugins.formats->method(method_name);
  nlohmann::json options = nlohmann::json::parse(method.method.default_options_json);
  options.update(nlohmann::json::parse(overrides));
  return plugins.formats->get(method.format)->quantize(weight, at::Tensor(), options.dump(), at::Tensor());
}

}  // namespace

int main(int argc, char** argv) {
  return oft::bench::run_report("quantized_linear", [&](nlohmann::json& out) {
    const oft::bench::Args args(
        argc, argv, {"--method", "--options", "--device", "--dtype", "--tokens", "--features", "--budget-s"},
        {"--small"});
    const bool small = args.has("--small");
    const c10::Device device = oft::bench::with_index(oft::parse_device(args.get("--device", "cuda")));
    const c10::ScalarType dtype = oft::parse_dtype(args.get("--dtype", "bf16"));
    oft::prepare_device(device);
    const auto features = static_cast<int64_t>(args.number("--features", small ? 256 : 4096));
    const auto tokens = args.integers("--tokens", small ? "1,16" : "1,2048");
    oft::bench::TimingOptions timing;
    timing.budget_s = args.number("--budget-s", small ? 0.05 : 0.5);
    if (small) timing.min_samples = 3;
    out["device"] = device.str();
    out["dtype"] = oft::dtype_name(dtype);
    if (!args.has("--method")) throw oft::UsageError("--method: expected a quantize method (oft plugins lists them)");
    const std::string method = args.get("--method", ""), overrides = args.get("--options", "{}");
    out["config"] = {
        {"features", features}, {"tokens", tokens}, {"method", method}, {"options", overrides}, {"bias", false}};

    at::manual_seed(0);
    const at::Tensor weight = at::randn({features, features}) * 0.02;
    std::vector<std::shared_ptr<oft::sdk::LinearModule>> quantized;
    std::vector<torch::nn::Linear> dense;
    do {  // the same weights in every copy
      quantized.push_back(quantize(weight, method, overrides));
      quantized.back()->to(device);
      quantized.back()->eval();
      dense.emplace_back(torch::nn::LinearOptions(features, features).bias(false));
      dense.back()->weight.set_data(weight.to(device, dtype));
      dense.back()->eval();
    } while (device.is_cuda() && static_cast<int64_t>(quantized.size()) < kMaxCopies &&
             static_cast<int64_t>(quantized.size()) * features * features / 2 < kColdBytes);
    out["config"]["copies"] = quantized.size();
    size_t next_dense = 0, next_quantized = 0;
    oft::bench::QueuedTimer queued(device);
    torch::NoGradGuard no_grad;
    const at::Tensor dequantized = quantized[0]->dense_weight().to(device, dtype);
    for (const int64_t t : tokens) {
      try {
        const at::Tensor x = at::randn({t, features}, at::TensorOptions().device(device).dtype(dtype));
        const std::string prefix = "quantized_linear.t" + std::to_string(t) + ".";
        const std::vector<std::function<void()>> pair = {
            [&] { dense[next_dense++ % dense.size()]->forward(x); },
            [&] { quantized[next_quantized++ % quantized.size()]->forward(x); }};
        // In turns, so that both sides of the ratio see the same clocks.
        const auto timed = oft::bench::measure_interleaved(device, pair, timing);
        out["measurements"].push_back(measurement(prefix + "dense_fwd", timed[0].median_ms, "ms", timed[0].samples));
        out["measurements"].push_back(
            measurement(prefix + "quantized_fwd", timed[1].median_ms, "ms", timed[1].samples));
        const at::Tensor reference = at::linear(x.to(at::kFloat), dequantized.to(at::kFloat));
        const double error =
            ((quantized[0]->forward(x).to(at::kFloat) - reference).norm() / reference.norm()).item<double>();
        out["measurements"].push_back(measurement(prefix + "quantized_rel_error_vs_dequantized", error, "1"));
        // The same pair with the GPU's queue kept full: the kernels' own time, without the host's per call. Last,
        // since a call that waits for the GPU makes it throw.
        const auto busy = oft::bench::measure_interleaved(device, pair, timing, std::ref(queued));
        out["measurements"].push_back(
            measurement(prefix + "dense_fwd_queued", busy[0].median_ms, "ms", busy[0].samples));
        out["measurements"].push_back(
            measurement(prefix + "quantized_fwd_queued", busy[1].median_ms, "ms", busy[1].samples));
      } catch (const std::exception& e) {
        out["errors"].push_back("tokens " + std::to_string(t) + ": " + e.what());
      }
      oft::bench::print_report(out);
    }
  });
}
