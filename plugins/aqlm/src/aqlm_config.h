#pragma once
// AQLM settings as config.json's "quantization_config" writes them (transformers' AqlmConfig.to_dict()),
// and the native quantizer's own options. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

namespace oft::aqlm {

struct AqlmConfig {
  int64_t in_group_size = 8;        // inputs per code (ig)
  int64_t out_group_size = 1;       // outputs per code (og)
  int64_t num_codebooks = 1;        // codebooks summed per group (C)
  int64_t nbits_per_codebook = 16;  // B: each codebook has 2^B vectors of og x ig values
  // Full names of linear weights left dense (e.g. "lm_head.weight"); kept for the round trip.
  std::vector<std::string> linear_weights_not_to_quantize;

  int64_t codebook_size() const { return int64_t{1} << nbits_per_codebook; }
  // Stored bits per weight of the codes alone (codebooks and scales come on top).
  double code_bits_per_weight() const {
    return static_cast<double>(num_codebooks * nbits_per_codebook) /
           static_cast<double>(in_group_size * out_group_size);
  }

  // A model's quantization_config (unknown keys are ignored). Throws std::invalid_argument naming the key
  // for values we cannot read.
  static AqlmConfig from_quantization_config(const std::string& json_text);
  // config.json's "quantization_config" for layers with these settings (AqlmConfig.to_dict()'s keys).
  std::string to_quantization_config() const;
};

// The native quantizer's settings (not part of quantization_config).
struct QuantizerOptions {
  int64_t beam_size = 4;             // hypotheses kept per output group in the code search
  int64_t epochs = 4;                // rounds of (codebook update, scale update, code search)
  int64_t kmeans_iterations = 20;    // Lloyd iterations per codebook in the residual k-means initialisation
  int64_t codebook_iterations = 10;  // preconditioned conjugate-gradient steps per codebook update
  uint64_t seed = 0;                 // k-means initialisation
};

// `oft quantize` options: AqlmConfig's keys plus QuantizerOptions' keys; unknown keys are errors.
struct QuantizeSettings {
  AqlmConfig config;
  QuantizerOptions quantizer;
  static QuantizeSettings from_options(const std::string& json_text);
};

// True when the JSON text names quant_method "aqlm".
bool is_aqlm_quantization_config(const std::string& json_text);

}  // namespace oft::aqlm
