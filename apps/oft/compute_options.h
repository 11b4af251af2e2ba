#pragma once
// Where and in what precision a command computes: `--device cpu|cuda[:N]` and `--dtype fp32|bf16|fp16` on the
// commands that load a model, the host config's "device", "dtype" and "eval_weight_cache" defaults, and
// `oft train`'s TRAIN.json keys of the same names. A flag wins over TRAIN.json, which wins over the host config;
// unset everywhere: the CPU and the checkpoint's own dtype.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace oft::app {

class Host;

struct ComputeFlags {
  std::string device;  // empty: not given
  std::string dtype;
  bool no_eval_weight_cache = false;
};

struct ComputeSettings {
  c10::Device device = c10::kCPU;
  std::optional<c10::ScalarType> dtype;  // unset: the checkpoint's dtype
  bool eval_weight_cache = true;         // OFTModelOptions::eval_weight_cache
};

// Adds --device and --dtype; with `eval_flag` also --no-eval-weight-cache (commands that run eval forwards).
void add_compute_options(CLI::App& cmd, ComputeFlags& flags, bool eval_flag);

// Settings from the flags, then `device_key` / `dtype_key` (TRAIN.json's, when given), then the host config.
// Makes the device usable (prepare_device) before the caller loads anything: a missing GPU is a UsageError here.
ComputeSettings resolve_compute(const Host& host, const ComputeFlags& flags,
                                const std::optional<std::string>& device_key = std::nullopt,
                                const std::optional<std::string>& dtype_key = std::nullopt);

// For commands that write what they computed (merge, quantize): says so when the output's dtype comes from the
// host config's "dtype" rather than --dtype, since a host set up for bf16 serving then writes bf16 checkpoints.
void warn_output_dtype_from_host(const Host& host, const ComputeFlags& flags, const std::string& output);

}  // namespace oft::app
