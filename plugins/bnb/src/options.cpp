#include "options.h"

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"

namespace oft::bnb {
namespace {

using nlohmann::json;

// Every key transformers' BitsAndBytesConfig.to_dict() writes, plus oft's blocksize extension.
const std::vector<std::string> kKnownKeys = {"quant_method",
                                             "_load_in_8bit",
                                             "_load_in_4bit",
                                             "load_in_8bit",
                                             "load_in_4bit",
                                             "llm_int8_threshold",
                                             "llm_int8_skip_modules",
                                             "llm_int8_enable_fp32_cpu_offload",
                                             "llm_int8_has_fp16_weight",
                                             "bnb_4bit_quant_type",
                                             "bnb_4bit_use_double_quant",
                                             "bnb_4bit_compute_dtype",
                                             "bnb_4bit_quant_storage",
                                             "bnb_4bit_blocksize"};

// `strict` for the user's quantize options (only the keys above); a checkpoint's quantization_config may hold others.
json parse(const std::string& text, bool strict) {
  if (text.empty()) return json::object();
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("bitsandbytes options: not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw std::invalid_argument("bitsandbytes options: expected a JSON object, got " + j.dump());
  if (strict) sdk::reject_unknown_keys(j, kKnownKeys, "bitsandbytes options", "key");
  if (j.contains("quant_method") && j["quant_method"] != "bitsandbytes")
    throw std::invalid_argument("bitsandbytes options: quant_method is " + j["quant_method"].dump() +
                                ", expected \"bitsandbytes\"");
  return j;
}

bool flag(const json& j, const std::string& key) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean())
    throw std::invalid_argument("bitsandbytes options: '" + key + "' must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

bool loads_8bit(const json& j) { return flag(j, "load_in_8bit") || flag(j, "_load_in_8bit"); }
bool loads_4bit(const json& j) { return flag(j, "load_in_4bit") || flag(j, "_load_in_4bit"); }

std::string dtype_option(const json& j, const std::string& key, const std::string& fallback,
                         const std::set<std::string>& allowed) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string())
    throw std::invalid_argument("bitsandbytes options: '" + key + "' must be a dtype name, got " + j[key].dump());
  std::string name = j[key].get<std::string>();
  if (name.rfind("torch.", 0) == 0) name = name.substr(6);
  if (!allowed.count(name)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw std::invalid_argument("bitsandbytes options: '" + key + "' is \"" + name + "\", expected one of " + list);
  }
  return name;
}

nlohmann::ordered_json transformers_dict(bool eight, double threshold, const FourBitOptions& four) {
  nlohmann::ordered_json j;
  j["quant_method"] = "bitsandbytes";
  j["_load_in_8bit"] = eight;
  j["_load_in_4bit"] = !eight;
  j["llm_int8_threshold"] = threshold;
  j["llm_int8_skip_modules"] = nullptr;
  j["llm_int8_enable_fp32_cpu_offload"] = false;
  j["llm_int8_has_fp16_weight"] = false;
  j["bnb_4bit_quant_type"] = name_of(four.quant_type);
  j["bnb_4bit_use_double_quant"] = four.nested;
  j["bnb_4bit_compute_dtype"] = four.compute_dtype;
  j["bnb_4bit_quant_storage"] = four.quant_storage;
  j["load_in_4bit"] = !eight;
  j["load_in_8bit"] = eight;
  return j;
}

}  // namespace

QuantType quant_type_named(const std::string& name, const std::string& what) {
  if (name == "nf4") return QuantType::NF4;
  if (name == "fp4") return QuantType::FP4;
  throw std::invalid_argument(what + ": quant type \"" + name + "\", expected \"nf4\" or \"fp4\"");
}

bool is_valid_blocksize(long long blocksize) {
  for (long long b = 32; b <= 4096; b *= 2)
    if (b == blocksize) return true;
  return false;
}

Int8Options int8_options(const std::string& json_text, Source source) {
  const json j = parse(json_text, source == Source::Options);
  if (loads_4bit(j)) throw std::invalid_argument("bitsandbytes 8-bit options: the config says load_in_4bit");
  if (flag(j, "llm_int8_has_fp16_weight"))
    throw std::invalid_argument(
        "bitsandbytes 8-bit options: llm_int8_has_fp16_weight=true keeps fp16 weights (a dense layer), which this "
        "format does not store; use the dense model");
  Int8Options options;
  if (j.contains("llm_int8_threshold") && !j["llm_int8_threshold"].is_null()) {
    if (!j["llm_int8_threshold"].is_number() || j["llm_int8_threshold"].get<double>() < 0)
      throw std::invalid_argument("bitsandbytes options: 'llm_int8_threshold' must be a number >= 0, got " +
                                  j["llm_int8_threshold"].dump());
    options.threshold = j["llm_int8_threshold"].get<double>();
  }
  return options;
}

FourBitOptions four_bit_options(const std::string& json_text, Source source) {
  const json j = parse(json_text, source == Source::Options);
  if (loads_8bit(j)) throw std::invalid_argument("bitsandbytes 4-bit options: the config says load_in_8bit");
  FourBitOptions options;
  if (j.contains("bnb_4bit_quant_type") && !j["bnb_4bit_quant_type"].is_null()) {
    if (!j["bnb_4bit_quant_type"].is_string())
      throw std::invalid_argument("bitsandbytes options: 'bnb_4bit_quant_type' must be \"nf4\" or \"fp4\", got " +
                                  j["bnb_4bit_quant_type"].dump());
    options.quant_type = quant_type_named(j["bnb_4bit_quant_type"].get<std::string>(), "bnb_4bit_quant_type");
  }
  options.nested = flag(j, "bnb_4bit_use_double_quant");
  if (j.contains("bnb_4bit_blocksize") && !j["bnb_4bit_blocksize"].is_null()) {
    const json& b = j["bnb_4bit_blocksize"];
    if (!b.is_number_integer() || !is_valid_blocksize(b.get<long long>()))
      throw std::invalid_argument("bitsandbytes options: 'bnb_4bit_blocksize' is " + b.dump() +
                                  ", expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096");
    options.blocksize = b.get<int64_t>();
  }
  options.compute_dtype = dtype_option(j, "bnb_4bit_compute_dtype", "float32", {"float32", "float16", "bfloat16"});
  options.quant_storage =
      dtype_option(j, "bnb_4bit_quant_storage", "uint8", {"uint8", "int8", "float16", "bfloat16", "float32", "int32"});
  return options;
}

bool config_loads_in_8bit(const std::string& json_text) {
  try {
    return loads_8bit(parse(json_text, false));
  } catch (const std::invalid_argument&) {
    return false;  // not a bitsandbytes config (another quant_method) or not JSON: not ours to judge
  }
}

bool config_loads_in_4bit(const std::string& json_text) {
  try {
    return loads_4bit(parse(json_text, false));
  } catch (const std::invalid_argument&) {
    return false;
  }
}

std::string quantization_config_json(const Int8Options& options) {
  return transformers_dict(true, options.threshold, FourBitOptions{}).dump();
}

std::string quantization_config_json(const FourBitOptions& options) {
  return transformers_dict(false, Int8Options{}.threshold, options).dump();
}

}  // namespace oft::bnb
