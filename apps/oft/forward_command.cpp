// `oft forward --model DIR [--adapter [NAME=]DIR]... [--active NAME[,NAME]] [--merge]
//              --input IN.safetensors --output OUT.safetensors`
// Runs the model (with its adapters, merged first if asked) on IN's input_ids (and attention_mask)
// and writes "logits" (causal LMs) or "last_hidden_state" (BERT) as fp32.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "commands.h"
#include "model_session.h"
#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "oft/log.h"

namespace oft::app {
namespace {

struct ForwardOptions {
  std::string model;
  std::vector<std::string> adapters;
  std::vector<std::string> active;
  bool merge = false;
  std::string input;
  std::string output;
  ComputeFlags compute;
};

at::Tensor token_tensor(const safetensors::TensorMap& inputs, const std::string& name, const std::string& file) {
  const auto it = inputs.find(name);
  if (it == inputs.end()) return {};
  const at::Tensor& t = it->second;
  if (t.dim() != 2 || !at::isIntegralType(t.scalar_type(), /*includeBool=*/false))
    throw UsageError(file + ": '" + name + "' must be an integer tensor of shape (batch, tokens), found " +
                     std::string(c10::toString(t.scalar_type())) + " with " + std::to_string(t.dim()) + " dims");
  return t.to(at::kLong);
}

void run_forward(Host& host, const ForwardOptions& o) {
  const auto inputs = safetensors::load(o.input).tensors;
  const at::Tensor ids = token_tensor(inputs, "input_ids", o.input);
  if (!ids.defined()) throw UsageError(o.input + " has no 'input_ids' tensor");
  const at::Tensor mask = token_tensor(inputs, "attention_mask", o.input);
  if (mask.defined() && mask.sizes() != ids.sizes())
    throw UsageError(o.input + ": 'attention_mask' must have the shape of 'input_ids'");

  ModelSession session = load_model(host, o.model, resolve_compute(host, o.compute));
  std::vector<AdapterArgument> adapters;
  for (const auto& text : o.adapters) adapters.push_back(AdapterArgument::parse(text));
  attach_adapters(host, session, adapters, o.active);
  if (o.merge) {
    if (!session.oft) throw UsageError("--merge needs at least one --adapter");
    session.oft->merge_adapter();
  }
  torch::NoGradGuard no_grad;
  const c10::Device device = session.compute.device;
  const at::Tensor out =
      session.model.forward(ids.to(device), mask.defined() ? mask.to(device) : mask).to(at::kFloat).contiguous();
  safetensors::save(o.output, {{session.model.output_name, out}});
  logger()->info("wrote {} {} to {}", session.model.output_name, c10::str(out.sizes()), o.output);
}

}  // namespace

void add_forward_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<ForwardOptions>();
  auto* cmd = app.add_subcommand("forward", "Run a model (with OFT adapters) on token ids and write its outputs");
  cmd->add_option("--model", o->model, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--adapter", o->adapters, "[NAME=]DIR of an adapter saved by oft or PEFT (repeatable)");
  cmd->add_option("--active", o->active, "adapters to activate, in order (default: the first loaded)")->delimiter(',');
  cmd->add_flag("--merge", o->merge, "merge the active adapters into the weights first");
  cmd->add_option("--input", o->input, "safetensors with input_ids (batch, tokens) and optional attention_mask")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", o->output, "safetensors to write (logits or last_hidden_state, fp32)")->required();
  add_compute_options(*cmd, o->compute, /*eval_flag=*/true);
  cmd->callback([o, &host] { run_forward(host, *o); });
}

}  // namespace oft::app
