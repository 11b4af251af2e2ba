// The awq backend plugin: the "awq" dispatcher (PEFT's priority 500) putting OFT on AwqLinear, and
// the "awq" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "awq_format.h"
#include "awq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see AwqLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("awq: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_awq(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::awq::AwqLinear>>("awq", 500));  // PEFT's place
  registrar.add_format(std::make_shared<oft::awq::AwqFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("awq", "0.1.0", register_awq)
