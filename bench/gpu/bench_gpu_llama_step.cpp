// One training step of a LLaMA-shaped model with OFT adapters, the definitions of
// bench/gpu/peft_llama_step.py (issue 12's second goal): random weights from --config (no checkpoint),
// bf16 base (--dtype), fp32 adapters (OFT's default for half-precision bases), AdamW over the adapters,
// a batch of --batch x --seq random token ids, causal-LM loss (oft::models::causal_lm_loss: logits in fp32,
// shifted labels, as transformers computes it). One step = zero_grad, forward, loss, backward, optimizer step, timed as
// a whole. For each target set (q_proj,v_proj and all-linear, block --block) it reports the median step time, tokens/s
// and the allocator's peak memory (weights included). Prints one JSON object.
//   bench_gpu_llama_step --config bench/gpu/configs/llama-1.1b.json [--device cuda] [--dtype bf16]
//                        [--batch 8] [--seq 1024] [--block 32] [--steps 5] [--small]
//   (--small: batch 2 x 32 tokens, for the CPU smoke run with configs/llama-tiny.json)
#include <fstream>

#include <ATen/ops/randint.h>
#include <torch/optim/adamw.h>

#include "bench_args.h"
#include "gpu_bench_common.h"
#include "oft/device/device.h"
#include "oft/hf/causal_lm_loss.h"
#include "oft/hf/pretrained.h"
#include "oft/tuner/oft_model.h"

namespace {

using oft::bench::measurement;

struct Shape {
  int64_t batch, seq, block;
};

void bench_targets(const std::string& label, const oft::ModuleSelector& targets, oft::models::Pretrained& pretrained,
                   const Shape& shape, const c10::Device& device, const oft::bench::TimingOptions& timing,
                   nlohmann::json& out) {
  oft::OFTConfig config;
  config.oft_block_size = shape.block;
  config.target_modules = targets;
  oft::OFTModelOptions options;
  options.info = pretrained.info;
  oft::OFTModel model(pretrained.module, config, options);
  model.model().train();
  std::vector<at::Tensor> trainable;
  for (const auto& p : model.model().parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(1e-4));

  const int64_t vocab = pretrained.config.at("vocab_size").get<int64_t>();
  at::manual_seed(0);
  const at::Tensor ids =
      at::randint(vocab, {shape.batch, shape.seq}, at::TensorOptions().device(device).dtype(at::kLong));
  // No reference to the logits outlives the loss's statement (the loss keeps what its backward needs), as in the
  // Python peer.
  auto forward_loss = [&] { return oft::models::causal_lm_loss(pretrained.forward(ids, at::Tensor()), ids); };
  auto step = [&] {
    optimizer.zero_grad();
    const at::Tensor loss = forward_loss();
    loss.backward();
    optimizer.step();
  };
  oft::bench::synchronize(device);
  oft::bench::reset_peak_memory(device);
  const auto t = oft::bench::measure(device, step, timing);
  const std::string prefix = "llama_step." + label + ".";
  out["measurements"].push_back(measurement(prefix + "oft_step", t.median_ms, "ms", t.samples));
  out["measurements"].push_back(
      measurement(prefix + "oft_tokens_per_s", 1000.0 * shape.batch * shape.seq / t.median_ms, "tokens/s"));
  if (const auto peak = oft::bench::peak_memory_gib(device))
    out["measurements"].push_back(measurement(prefix + "oft_peak_memory", *peak, "GiB"));
  if (device.is_cpu()) {  // what a forward and the loss keep for the backward, on the C heap
    optimizer.zero_grad();
    const double before = oft::bench::heap_in_use_gib();
    const at::Tensor loss = forward_loss();
    out["measurements"].push_back(
        measurement(prefix + "oft_forward_held_memory", oft::bench::heap_in_use_gib() - before, "GiB"));
    loss.backward();
  }
  int64_t adapter_parameters = 0;
  for (const auto& p : trainable) adapter_parameters += p.numel();
  out["trainable_parameters"][label] = adapter_parameters;
  model.unload();  // the base layers back, for the next target set
}

}  // namespace

int main(int argc, char** argv) {
  return oft::bench::run_report("llama_step", [&](nlohmann::json& out) {
    const oft::bench::Args args(
        argc, argv, {"--config", "--device", "--dtype", "--batch", "--seq", "--block", "--steps", "--targets"},
        {"--small"});
    const bool small = args.has("--small");
    const c10::Device device = oft::bench::with_index(oft::parse_device(args.get("--device", "cuda")));
    const c10::ScalarType dtype = oft::parse_dtype(args.get("--dtype", "bf16"));
    oft::prepare_device(device);
    const std::string config_path = args.get("--config", "bench/gpu/configs/llama-1.1b.json");
    std::ifstream config_file(config_path);
    if (!config_file) throw oft::UsageError("--config: cannot read '" + config_path + "'");
    const nlohmann::json config = nlohmann::json::parse(config_file);
    const Shape shape{static_cast<int64_t>(args.number("--batch", small ? 2 : 8)),
                      static_cast<int64_t>(args.number("--seq", small ? 32 : 1024)),
                      static_cast<int64_t>(args.number("--block", small ? 16 : 32))};
    oft::bench::TimingOptions timing;
    timing.warmup = 2;
    timing.min_samples = static_cast<int>(args.number("--steps", small ? 2 : 5));
    timing.budget_s = 0;
    out["device"] = device.str();
    out["dtype"] = oft::dtype_name(dtype);
    out["config"] = {{"model_config", config_path},
                     {"batch", shape.batch},
                     {"seq", shape.seq},
                     {"block", shape.block},
                     {"optimizer", "AdamW lr 1e-4"},
                     {"adapter_dtype", "fp32"},
                     {"warmup_steps", timing.warmup},
                     {"timed_steps", timing.min_samples}};

    oft::models::Pretrained pretrained = oft::models::from_config(config, device);
    pretrained.module->to(dtype);
    for (auto& p : pretrained.module->parameters()) p.set_requires_grad(false);
    const std::map<std::string, oft::ModuleSelector> target_sets = {
        {"qv", oft::ModuleSelector::from_names({"q_proj", "v_proj"})},
        {"all_linear", oft::ModuleSelector::from_regex("all-linear")}};
    for (const std::string label : {"qv", "all_linear"}) {
      if (args.has("--targets") && args.get("--targets", "") != label) continue;
      try {
        bench_targets(label, target_sets.at(label), pretrained, shape, device, timing, out);
      } catch (const std::exception& e) {  // e.g. out of memory: the other target set still runs
        out["errors"].push_back(label + ": " + e.what());
      }
      oft::bench::print_report(out);
    }
  });
}
