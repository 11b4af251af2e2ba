// The gptq backend plugin: the "gptq" dispatcher (PEFT's priority 600) putting OFT on GptqLinear,
// and the "gptq" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "gptq_format.h"
#include "gptq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see GptqLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("gptq: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_gptq(oft::sdk::Registrar& registrar) {
  registrar.add(
      std::make_shared<oft::sdk::TypedDispatcher<oft::gptq::GptqLinear>>("gptq", 600));  // PEFT's place for gptq
  registrar.add_format(std::make_shared<oft::gptq::GptqFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("gptq", "0.1.0", register_gptq)
