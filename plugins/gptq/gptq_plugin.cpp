// The gptq backend plugin: the "gptq" dispatcher (PEFT's priority 600) putting OFT on GptqLinear,
// and the "gptq" format.
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "gptq_format.h"
#include "gptq_linear.h"
#include "oft/sdk/dispatcher.h"
#include "oft/sdk/plugin.h"

namespace {

class GptqDispatcher final : public oft::sdk::Dispatcher {
 public:
  std::string name() const override { return "gptq"; }
  int priority() const override { return oft::sdk::priority::kGptq; }
  std::optional<oft::sdk::Claim> claim(const oft::sdk::ModuleRef& module, const oft::sdk::DispatchContext&) override {
    auto layer = std::dynamic_pointer_cast<oft::gptq::GptqLinear>(module.module);
    if (!layer) return std::nullopt;
    return oft::sdk::Claim{oft::sdk::Claim::Kind::Linear, std::move(layer)};
  }
};

// Plugin config: {"cache_dequantized": bool} (default false; see GptqLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("gptq: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_gptq(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<GptqDispatcher>());
  registrar.add_format(std::make_shared<oft::gptq::GptqFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("gptq", "0.1.0", register_gptq)
