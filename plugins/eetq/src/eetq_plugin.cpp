// The eetq backend plugin: the "eetq" dispatcher (PEFT's priority 300) putting OFT on EetqLinear, and the
// "eetq" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "eetq_format.h"
#include "eetq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see EetqLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  const auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("eetq: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_eetq(oft::sdk::Registrar& registrar) {
  registrar.add(
      std::make_shared<oft::sdk::TypedDispatcher<oft::eetq::EetqLinear>>("eetq", 300));  // PEFT's place for eetq
  registrar.add_format(std::make_shared<oft::eetq::EetqFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("eetq", "0.1.0", register_eetq)
