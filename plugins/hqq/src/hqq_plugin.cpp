// The hqq backend plugin: the "hqq" dispatcher (priority 700, after gptq's 600) putting OFT on
// HqqLinear, and the "hqq" format.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "hqq_format.h"
#include "hqq_linear.h"
#include "oft/sdk/plugin.h"
#include "oft/sdk/typed_dispatcher.h"

namespace {

// Plugin config: {"cache_dequantized": bool} (default false; see HqqLinear::set_cache_dequantized).
bool cache_dequantized(const std::string& config_json) {
  auto config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  if (!config.contains("cache_dequantized")) return false;
  if (!config["cache_dequantized"].is_boolean())
    throw std::invalid_argument("hqq: plugin config \"cache_dequantized\" must be a boolean");
  return config["cache_dequantized"].get<bool>();
}

void register_hqq(oft::sdk::Registrar& registrar) {
  registrar.add(std::make_shared<oft::sdk::TypedDispatcher<oft::hqq::HqqLinear>>("hqq", 700));
  registrar.add_format(std::make_shared<oft::hqq::HqqFormat>(cache_dequantized(registrar.config_json())));
}

}  // namespace

OFT_PLUGIN("hqq", "0.1.0", register_hqq)
