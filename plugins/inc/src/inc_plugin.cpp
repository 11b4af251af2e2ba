// The inc backend plugin: the "inc" dispatcher (PEFT's priority 800) putting OFT on IncLinear, and the
// "inc_fp8" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "inc_format.h"
#include "inc_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see IncLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("inc: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_inc(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::inc::IncLinear>>("inc", 800));  // PEFT's place
  registrar.add_format(std::make_shared<oft::inc::IncFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("inc", "0.1.0", register_inc)
