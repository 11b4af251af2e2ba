// `oft plan --model DIR --config OFT.json [--json]`: which modules the OFT config targets, the
// dispatcher that claimed each, its block layout, trainable parameters and whether it can merge;
// totals as PEFT's print_trainable_parameters.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_session.h"
#include "oft/adapter/config.h"

namespace oft::app {
namespace {

struct PlanCommandOptions {
  std::string model;
  std::string config;
  bool json = false;
};

std::string merge_mode(sdk::MergeMode mode) {
  switch (mode) {
    case sdk::MergeMode::Exact: return "exact";
    case sdk::MergeMode::Requantize: return "requantize";
    case sdk::MergeMode::Refused: return "refused";
  }
  return "?";
}

nlohmann::json plan(Host& host, const PlanCommandOptions& o) {
  ModelSession session = load_model(host, o.model);
  OFTModel model(session.model.module, OFTConfig::load(o.config),
                 {.info = session.model.info, .registry = host.dispatchers()});
  // A model-level refusal (e.g. from its quantization format) overrides what each layer says, as merging does.
  const std::string model_refusal = model.model_merge_refusal();
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& [path, layer] : model.oft_layers()) {
    const BlockLayout layout = layer->layout("default");
    sdk::MergePolicy policy = layer->merge_policy();
    if (!model_refusal.empty()) policy = {sdk::MergeMode::Refused, model_refusal};
    const int64_t parameters = layer->rotation("default")->weight.numel();
    modules.push_back({{"module", path},
                       {"base", layer->base_module()->name()},
                       {"dispatcher", model.claimed_by().at(path)},
                       {"r", layout.num_blocks},
                       {"block_size", layout.block_size},
                       {"parameters", parameters},
                       {"merge", merge_mode(policy.mode)},
                       {"merge_note", policy.reason}});
  }
  const ParameterCount count = model.count_parameters();
  return {{"model", o.model},
          {"modules", modules},
          {"trainable", count.trainable},
          {"total", count.total},
          {"summary", count.summary()}};
}

void print_plan_text(const nlohmann::json& p) {
  std::printf("%-52s %-16s %-10s %5s %5s %10s  %s\n", "module", "base", "dispatcher", "r", "b", "params", "merge");
  for (const auto& m : p["modules"])
    std::printf("%-52s %-16s %-10s %5lld %5lld %10lld  %s\n", m["module"].get<std::string>().c_str(),
                m["base"].get<std::string>().c_str(), m["dispatcher"].get<std::string>().c_str(),
                static_cast<long long>(m["r"].get<int64_t>()), static_cast<long long>(m["block_size"].get<int64_t>()),
                static_cast<long long>(m["parameters"].get<int64_t>()), m["merge"].get<std::string>().c_str());
  std::printf("%zu modules\n%s\n", p["modules"].size(), p["summary"].get<std::string>().c_str());
}

}  // namespace

void add_plan_command(CLI::App& app, Host& host) {
  auto o = std::make_shared<PlanCommandOptions>();
  auto* cmd =
      app.add_subcommand("plan", "Show which modules an OFT config adapts, who claims them, and the parameter counts");
  cmd->add_option("--model", o->model, "Hugging Face model folder (config.json + safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--config", o->config, "OFT config JSON (PEFT's adapter_config.json keys)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", o->json, "print JSON for machines");
  cmd->callback([o, &host] {
    const nlohmann::json p = plan(host, *o);
    if (o->json)
      std::cout << p.dump(2) << std::endl;
    else
      print_plan_text(p);
  });
}

}  // namespace oft::app
