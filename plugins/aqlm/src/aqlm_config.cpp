#include "aqlm_config.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::aqlm {
namespace {

using nlohmann::json;

int64_t positive_int(const json& object, const char* key, const char* what, int64_t fallback) {
  if (!object.contains(key) || object[key].is_null()) return fallback;
  if (!sdk::json_holds<int64_t>(object[key]) || object[key].get<int64_t>() <= 0)
    throw std::invalid_argument(std::string("aqlm: ") + what + " \"" + key + "\" must be a positive integer, got " +
                                object[key].dump());
  return object[key].get<int64_t>();
}

AqlmConfig read(const json& c, const char* what) {
  AqlmConfig config;
  config.in_group_size = positive_int(c, "in_group_size", what, config.in_group_size);
  config.out_group_size = positive_int(c, "out_group_size", what, config.out_group_size);
  config.num_codebooks = positive_int(c, "num_codebooks", what, config.num_codebooks);
  config.nbits_per_codebook = positive_int(c, "nbits_per_codebook", what, config.nbits_per_codebook);
  // int8 codes hold B <= 8, int16 codes B <= 16 (aqlm's get_int_dtype); wider codebooks are not practical.
  if (config.nbits_per_codebook > 16)
    throw std::invalid_argument(std::string("aqlm: ") + what + " \"nbits_per_codebook\" must be 1..16, got " +
                                std::to_string(config.nbits_per_codebook));
  if (c.contains("linear_weights_not_to_quantize") && !c["linear_weights_not_to_quantize"].is_null()) {
    const json& names = c["linear_weights_not_to_quantize"];
    if (!names.is_array())
      throw std::invalid_argument(std::string("aqlm: ") + what +
                                  " \"linear_weights_not_to_quantize\" must be a list of strings");
    for (const auto& name : names) {
      if (!name.is_string())
        throw std::invalid_argument(std::string("aqlm: ") + what +
                                    " \"linear_weights_not_to_quantize\" must be a list of strings, got " +
                                    name.dump());
      config.linear_weights_not_to_quantize.push_back(name.get<std::string>());
    }
  }
  return config;
}

}  // namespace

AqlmConfig AqlmConfig::from_quantization_config(const std::string& json_text) {
  return read(sdk::parse_json_object(json_text, "aqlm", "quantization_config"), "quantization_config");
}

std::string AqlmConfig::to_quantization_config() const {
  return json{{"quant_method", "aqlm"},
              {"in_group_size", in_group_size},
              {"out_group_size", out_group_size},
              {"num_codebooks", num_codebooks},
              {"nbits_per_codebook", nbits_per_codebook},
              {"linear_weights_not_to_quantize", linear_weights_not_to_quantize}}
      .dump();
}

QuantizeSettings QuantizeSettings::from_options(const std::string& json_text) {
  const json options = sdk::parse_json_object(json_text, "aqlm", "options");
  sdk::reject_unknown_keys(
      options,
      {"quant_method", "in_group_size", "out_group_size", "num_codebooks", "nbits_per_codebook",
       "linear_weights_not_to_quantize", "beam_size", "epochs", "kmeans_iterations", "codebook_iterations", "seed"},
      "aqlm", "option");
  if (options.contains("quant_method") && options["quant_method"] != "aqlm")
    throw std::invalid_argument("aqlm: option \"quant_method\" must be \"aqlm\", got " +
                                options["quant_method"].dump());
  QuantizeSettings settings;
  settings.config = read(options, "option");
  QuantizerOptions& q = settings.quantizer;
  q.beam_size = positive_int(options, "beam_size", "option", q.beam_size);
  if (options.contains("epochs") && options["epochs"] == 0) {
    q.epochs = 0;  // k-means initialisation and one code search only
  } else {
    q.epochs = positive_int(options, "epochs", "option", q.epochs);
  }
  q.kmeans_iterations = positive_int(options, "kmeans_iterations", "option", q.kmeans_iterations);
  q.codebook_iterations = positive_int(options, "codebook_iterations", "option", q.codebook_iterations);
  if (options.contains("seed")) {
    if (!options["seed"].is_number_unsigned())
      throw std::invalid_argument("aqlm: option \"seed\" must be a non-negative integer, got " +
                                  options["seed"].dump());
    q.seed = options["seed"].get<uint64_t>();
  }
  return settings;
}

bool is_aqlm_quantization_config(const std::string& json_text) {
  if (json_text.empty()) return false;
  try {
    const json c = json::parse(json_text);
    return c.is_object() && c.contains("quant_method") && c["quant_method"] == "aqlm";
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace oft::aqlm
