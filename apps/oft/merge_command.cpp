// `oft merge --model DIR --adapter DIR --out DIR`: merge_and_unload, then write a full checkpoint
// (config.json + model.safetensors, and the base folder's tokenizer and generation files) that transformers
// and `oft generate` load.
#include "commands.h"
#include "model_session.h"
#include "oft/errors.h"
#include "oft/log.h"

namespace oft::app {
namespace {

struct MergeOptions {
  std::string model;
  std::vector<std::string> adapters;
  std::string out;
  bool safe_merge = false;
  ComputeFlags compute;
};

void run_merge(Host& host, const MergeOptions& o) {
  ModelSession session = load_model(host, o.model, resolve_compute(host, o.compute));
  warn_output_dtype_from_host(host, o.compute, "the merged checkpoint");
  std::vector<AdapterArgument> adapters;
  std::vector<std::string> names;
  for (const auto& text : o.adapters) {
    adapters.push_back(AdapterArgument::parse(text));
    names.push_back(adapters.back().name);
  }
  attach_adapters(host, session, adapters, names);
  session.model.module = session.oft->merge_and_unload({.safe_merge = o.safe_merge});
  // With the base folder's tokenizer and generation files, so that `oft generate --prompt` runs on the output.
  models::save_pretrained(session.model, o.out, host.formats().get(), o.model);
  std::string merged;
  for (const auto& name : names) merged += (merged.empty() ? "" : ", ") + name;
  logger()->info("merged adapter(s) {} into {} and wrote {}", merged, o.model, o.out);
}

}  // namespace

void add_merge_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<MergeOptions>();
  auto* cmd = app.add_subcommand("merge", "Merge adapters into the model and write a full checkpoint");
  cmd->add_option("--model", o->model, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--adapter", o->adapters, "[NAME=]DIR of an adapter (repeatable; all are merged, in order)")
      ->required();
  cmd->add_option("--out", o->out, "folder for the merged checkpoint")->required();
  cmd->add_flag("--safe-merge", o->safe_merge, "check the merged weights are finite before writing them");
  add_compute_options(*cmd, o->compute, /*eval_flag=*/false);
  cmd->callback([o, &host] { run_merge(host, *o); });
}

}  // namespace oft::app
