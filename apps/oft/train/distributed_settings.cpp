#include "distributed_settings.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft::app {
namespace {

using nlohmann::json;

// A number of `unit`s in [smallest, largest] at `key`, or a ConfigError naming it (so that converting it to
// an integer count can neither give 0, which c10d reads as "no timeout", nor overflow).
double number_in_range(const json& section, const std::string& key, const std::string& where, const char* unit,
                       double smallest, double largest) {
  const json& value = section.at(key);
  if (!value.is_number() || !(value.get<double>() >= smallest && value.get<double>() <= largest))
    throw ConfigError(where + "." + key + " must be a number of " + unit + " from " + json(smallest).dump() + " to " +
                      json(largest).dump() + ", found " + value.dump());
  return value.get<double>();
}

}  // namespace

DistributedSettings distributed_settings_from_json(const json& section, const std::string& where) {
  if (!section.is_object()) throw ConfigError(where + " must be a JSON object, found " + section.dump());
  for (const auto& [key, value] : section.items())
    if (key != "timeout_s" && key != "backend" && key != "bucket_mb")
      throw ConfigError("unknown key '" + key + "' in " + where + " (expected backend, bucket_mb, timeout_s)");
  DistributedSettings settings;
  if (section.contains("timeout_s"))
    settings.timeout = std::chrono::milliseconds(
        std::llround(number_in_range(section, "timeout_s", where, "seconds", 0.001, 1e7) * 1000));
  if (section.contains("backend")) {
    const json& backend = section.at("backend");
    if (!backend.is_string() || (backend != "auto" && backend != "gloo" && backend != "nccl"))
      throw ConfigError(where + ".backend must be \"auto\", \"gloo\" or \"nccl\", found " + backend.dump());
    settings.backend = backend.get<std::string>();
  }
  if (section.contains("bucket_mb"))
    settings.bucket_bytes =
        std::llround(number_in_range(section, "bucket_mb", where, "MiB", 1.0 / (1 << 20), 1 << 20) * (1 << 20));
  return settings;
}

DistributedOptions resolve_distributed_options(const DistributedSettings& host, const DistributedSettings& run) {
  DistributedOptions options;
  options.timeout = run.timeout.value_or(host.timeout.value_or(options.timeout));
  options.backend = run.backend.value_or(host.backend.value_or(options.backend));
  options.bucket_bytes = run.bucket_bytes.value_or(host.bucket_bytes.value_or(options.bucket_bytes));
  return options;
}

}  // namespace oft::app
