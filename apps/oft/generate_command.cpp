// `oft generate --model DIR [--adapter [NAME=]DIR]... [--active NAME[,NAME]]
//               (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N
//               [--greedy | --temperature T --top-k K --top-p P --seed S] [--no-kv-cache] [--json]`
// KV-cached decoding of one sequence with a causal LM (GPT-2, LLaMA, Mistral, Qwen2) and its adapters
// (docs/generation.md). Text is printed as it is produced when the folder has a tokenizer; --json
// prints {"prompt_ids", "ids" (the new tokens), "text"} at the end instead.
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_session.h"
#include "oft/errors.h"
#include "oft/hf/generation.h"
#include "oft/hf/text_tokenizer.h"
#include "oft/log.h"
#include "text_stream.h"

namespace oft::app {
namespace {

struct GenerateOptions {
  std::string model;
  std::vector<std::string> adapters;
  std::vector<std::string> active;
  std::string prompt;
  std::vector<int64_t> prompt_ids;
  int64_t max_new_tokens = 0;
  bool greedy = false;
  // transformers' GenerationConfig defaults for sampling.
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  uint64_t seed = 0;
  bool no_kv_cache = false;
  bool json = false;
  bool sampling_given = false;  // any of --temperature/--top-k/--top-p/--seed
  ComputeFlags compute;
};

bool has_tokenizer(const std::filesystem::path& dir) {
  for (const char* file : {"tokenizer.json", "tokenizer.model", "vocab.txt"})
    if (std::filesystem::exists(dir / file)) return true;
  return false;
}

std::unique_ptr<models::TextTokenizer> tokenizer_for(const GenerateOptions& o) {
  if (!o.prompt.empty() && !has_tokenizer(o.model))
    throw UsageError(
        "--prompt needs the model folder's tokenizer (tokenizer.json, tokenizer.model or vocab.txt), "
        "and " +
        o.model + " has none: give --prompt-ids instead");
  return has_tokenizer(o.model) ? models::load_tokenizer(o.model) : nullptr;
}

models::SamplingOptions sampling_of(const GenerateOptions& o) {
  if (o.greedy && o.sampling_given)
    throw UsageError("--greedy cannot be combined with --temperature/--top-k/--top-p/--seed");
  if (!o.sampling_given) return {};
  return {.greedy = false, .temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p, .seed = o.seed};
}

void run_generate(Host& host, const GenerateOptions& o) {
  const auto sampling = sampling_of(o);
  const auto tokenizer = tokenizer_for(o);
  const std::vector<int64_t> prompt = o.prompt.empty() ? o.prompt_ids : tokenizer->encode(o.prompt);
  ModelSession session = load_model(host, o.model, resolve_compute(host, o.compute));
  std::vector<AdapterArgument> adapters;
  for (const auto& text : o.adapters) adapters.push_back(AdapterArgument::parse(text));
  attach_adapters(host, session, adapters, o.active);

  models::GenerationOptions options;
  options.max_new_tokens = o.max_new_tokens;
  options.sampling = sampling;
  options.use_cache = !o.no_kv_cache;
  options.eos_token_ids = models::eos_token_ids(o.model);
  if (options.eos_token_ids.empty() && tokenizer && tokenizer->eos_id()) options.eos_token_ids = {*tokenizer->eos_id()};
  logger()->debug("prompt of {} tokens, eos ids {}", prompt.size(), nlohmann::json(options.eos_token_ids).dump());

  std::optional<TextStream> stream;
  if (tokenizer && !o.json) stream.emplace(*tokenizer, std::cout);
  const auto ids = models::generate(session.model, prompt, options, [&](int64_t id) {
    if (stream) stream->add(id);
  });
  if (stream) {
    stream->finish();
  } else if (o.json) {
    nlohmann::json out{{"prompt_ids", prompt}, {"ids", ids}};
    if (tokenizer) out["text"] = tokenizer->decode(ids, /*skip_special_tokens=*/true);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << '\n';
  }
}

}  // namespace

void add_generate_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate text with a causal LM (with OFT adapters), KV-cached");
  cmd->add_option("--model", o->model, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--adapter", o->adapters, "[NAME=]DIR of an adapter saved by oft or PEFT (repeatable)");
  cmd->add_option("--active", o->active, "adapters to activate, in order (default: the first loaded)")->delimiter(',');
  auto* prompt = cmd->add_option("--prompt", o->prompt, "prompt text (needs the folder's tokenizer)");
  auto* ids = cmd->add_option("--prompt-ids", o->prompt_ids, "prompt token ids, comma-separated")->delimiter(',');
  prompt->excludes(ids);
  ids->excludes(prompt);
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "stop after this many new tokens (or at EOS)")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--greedy", o->greedy, "pick the most likely token (the default)");
  auto sampled = [o](CLI::Option* option) { option->each([o](const std::string&) { o->sampling_given = true; }); };
  sampled(cmd->add_option("--temperature", o->temperature, "sampling temperature (> 0; default 1)"));
  sampled(cmd->add_option("--top-k", o->top_k, "sample among the K most likely tokens (0: off; default 50)"));
  sampled(cmd->add_option("--top-p", o->top_p, "sample within the top-p probability mass (default 1: off)"));
  sampled(cmd->add_option("--seed", o->seed, "seed of the sampling generator (default 0)"));
  cmd->add_flag("--no-kv-cache", o->no_kv_cache, "re-run the whole sequence for each token (for comparison)");
  cmd->add_flag("--json", o->json, "print {\"prompt_ids\", \"ids\", \"text\"} as JSON at the end");
  add_compute_options(*cmd, o->compute, /*eval_flag=*/true);
  cmd->callback([o, &host] {
    if (o->prompt.empty() && o->prompt_ids.empty()) throw UsageError("give --prompt TEXT or --prompt-ids 1,2,3");
    run_generate(host, *o);
  });
}

}  // namespace oft::app
