// The aqlm backend plugin: the "aqlm" dispatcher (PEFT's priority 400) putting OFT on AqlmLinear, and the
// "aqlm" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "aqlm_format.h"
#include "aqlm_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see AqlmLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("aqlm: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_aqlm(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::aqlm::AqlmLinear>>("aqlm", 400));
  registrar.add_format(std::make_shared<oft::aqlm::AqlmFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("aqlm", "0.1.0", register_aqlm)
