#include "distributed_settings.h"

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft::app {
namespace {

using nlohmann::json;

// A positive number of `unit`s at `key`, or a ConfigError naming it.
double positive_number(const json& section, const std::string& key, const std::string& where, const char* unit) {
  const json& value = section.at(key);
  if (!value.is_number() || !(value.get<double>() > 0))
    throw ConfigError(where + "." + key + " must be a positive number of " + unit + ", found " + value.dump());
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
    settings.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(positive_number(section, "timeout_s", where, "seconds") * 1000));
  if (section.contains("backend")) {
    const json& backend = section.at("backend");
    if (!backend.is_string() || (backend != "auto" && backend != "gloo" && backend != "nccl"))
      throw ConfigError(where + ".backend must be \"auto\", \"gloo\" or \"nccl\", found " + backend.dump());
    settings.backend = backend.get<std::string>();
  }
  if (section.contains("bucket_mb"))
    settings.bucket_bytes = static_cast<int64_t>(positive_number(section, "bucket_mb", where, "MiB") * (1 << 20));
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
