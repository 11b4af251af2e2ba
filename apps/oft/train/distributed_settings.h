#pragma once
// The "distributed" section, {"timeout_s": 300, "backend": "auto", "bucket_mb": 25} with every key
// optional, in two places: the host config (--host-config: this machine's defaults, e.g. "nccl" on a
// GPU cluster, a longer timeout on a slow network) and TRAIN.json (this run's choices). Key by key,
// TRAIN.json wins over the host config, which wins over DistributedOptions' defaults: the more
// specific file decides, as a run's own config does everywhere else in oft, so a run that needs a
// short timeout (a test) or another bucket size says so without editing the machine's file.
// Torch-free.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "distributed_env.h"

namespace oft::app {

struct DistributedSettings {
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::string> backend;
  std::optional<int64_t> bucket_bytes;
};

// Reads a "distributed" section; `where` names it in messages ("host config H.json: distributed").
// A ConfigError names the key for unknown keys, wrong types and values out of range.
DistributedSettings distributed_settings_from_json(const nlohmann::json& section, const std::string& where);

// The options a run uses: `run` (TRAIN.json) over `host` (the host config) over the defaults.
DistributedOptions resolve_distributed_options(const DistributedSettings& host, const DistributedSettings& run);

}  // namespace oft::app
