#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>

#include "codes.h"
#include "formats.h"
#include "linear4bit.h"
#include "options.h"
#include "quant_state_json.h"

namespace oft::bnb {
namespace {

const std::string kStatePrefix = "weight.quant_state.bitsandbytes__";

const std::map<std::string, c10::ScalarType>& dtypes() {
  static const std::map<std::string, c10::ScalarType> m = {{"float32", at::kFloat},     {"float16", at::kHalf},
                                                           {"bfloat16", at::kBFloat16}, {"uint8", at::kByte},
                                                           {"int8", at::kChar},         {"int32", at::kInt}};
  return m;
}

c10::ScalarType dtype_named(const std::string& name, const std::string& what, bool float_only) {
  const auto it = dtypes().find(name);
  const bool is_float = it != dtypes().end() && at::isFloatingType(it->second);
  if (it == dtypes().end() || (float_only && !is_float))
    throw std::invalid_argument(what + ": \"" + name + "\", expected " +
                                (float_only ? "float32, float16 or bfloat16" : "a dtype name"));
  return it->second;
}

std::string name_of_dtype(c10::ScalarType t) {
  for (const auto& [name, dtype] : dtypes())
    if (dtype == t) return name;
  throw std::invalid_argument(std::string("bnb_4bit: no name for dtype ") + c10::toString(t));
}

FourBitState state_from(const FourBitOptions& o) {
  FourBitState s;
  s.quant_type = o.quant_type;
  s.blocksize = o.blocksize;
  s.nested = o.nested;
  s.compute_dtype = dtype_named(o.compute_dtype, "bnb_4bit_compute_dtype", true);
  s.quant_storage = dtype_named(o.quant_storage, "bnb_4bit_quant_storage", false);
  return s;
}

std::string state_key_of(const sdk::TensorMap& tensors) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : tensors)
    if (key.rfind(kStatePrefix, 0) == 0) keys.push_back(key);
  if (keys.size() != 1)
    throw std::invalid_argument("weight.quant_state.bitsandbytes__*: expected exactly one (nf4 or fp4), found " +
                                std::to_string(keys.size()));
  return keys[0];
}

std::string text_of(const at::Tensor& t, const std::string& name) {
  if (t.scalar_type() != at::kByte || t.dim() != 1)
    throw std::invalid_argument(name + ": expected a uint8 vector holding JSON text");
  const at::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
}

// The packed bytes, whatever dtype quant_storage saved them as.
at::Tensor bytes_of(const at::Tensor& weight) {
  if (!weight.defined()) throw std::invalid_argument("weight: missing (bitsandbytes 4-bit packed codes)");
  if (weight.scalar_type() == at::kByte) return weight.reshape({-1});
  return weight.contiguous().view({-1}).view(at::kByte);
}

void check_quant_map(const at::Tensor& map, QuantType type) {
  if (!map.defined()) return;  // optional for reading: bnb decodes with its own table, not this tensor
  if (map.scalar_type() != at::kFloat || map.numel() != 16 || !at::equal(map.reshape({-1}), quant_map(type)))
    throw std::invalid_argument("weight.quant_map: expected bitsandbytes' " + name_of(type) + " table (16 float32)");
}

}  // namespace

std::string FourBitFormat::name() const { return kFormat4bit; }

std::vector<sdk::QuantizeMethod> FourBitFormat::quantize_methods() const {
  return {{"bnb-nf4", "NF4: 4-bit normal-float codes in blocks of 64 (bitsandbytes Linear4bit)",
           R"({"bnb_4bit_quant_type": "nf4"})", false},
          {"bnb-fp4", "FP4: 4-bit float codes in blocks of 64 (bitsandbytes Linear4bit)",
           R"({"bnb_4bit_quant_type": "fp4"})", false}};
}

bool FourBitFormat::recognizes(const sdk::TensorMap& tensors, const std::string&) const {
  // The packed quant state is what makes a bnb 4-bit layer; the config alone cannot say which modules were skipped.
  for (const auto& [key, value] : tensors)
    if (key.rfind(kStatePrefix, 0) == 0) return true;
  return false;
}

std::shared_ptr<sdk::LinearModule> FourBitFormat::load(const sdk::TensorMap& tensors, const sdk::LinearShape& shape,
                                                       const std::string& quantization_config_json) const {
  const std::string state_key = state_key_of(tensors);
  static const std::set<std::string> known = {
      "weight", "bias", "weight.absmax", "weight.quant_map", "weight.nested_absmax", "weight.nested_quant_map"};
  for (const auto& [key, value] : tensors)
    if (!known.count(key) && key != state_key)
      throw std::invalid_argument("unexpected tensor '" + key + "' for bitsandbytes 4-bit");
  const QuantStateInfo info = decode_quant_state(text_of(tensors.at(state_key), state_key), state_key);
  const QuantType type = quant_type_named(state_key.substr(kStatePrefix.size()), state_key);
  if (info.quant_type != name_of(type))
    throw std::invalid_argument(state_key + ": quant_type \"" + info.quant_type + "\" does not match the key");
  if (!is_valid_blocksize(info.blocksize))
    throw std::invalid_argument(state_key + ": blocksize " + std::to_string(info.blocksize) +
                                ", expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096");
  if (info.shape != std::vector<int64_t>{shape.out_features, shape.in_features})
    throw std::invalid_argument(state_key + ": shape does not match the architecture's (" +
                                std::to_string(shape.out_features) + ", " + std::to_string(shape.in_features) + ")");
  if (info.nested && (info.nested_blocksize != kNestedBlocksize || info.nested_dtype != "float32"))
    throw std::invalid_argument(state_key +
                                ": nested_blocksize must be 256 and nested_dtype float32 (bitsandbytes "
                                "supports nothing else)");
  const at::Tensor bias = sdk::find_tensor(tensors, "bias");
  if (shape.bias != bias.defined())
    throw std::invalid_argument(shape.bias ? "bias: missing" : "bias: present, but the architecture has no bias");
  check_quant_map(sdk::find_tensor(tensors, "weight.quant_map"), type);

  FourBitState state = state_from(four_bit_options(quantization_config_json, Source::ModelConfig));
  state.quant_type = type;  // the file decides, as in bitsandbytes
  state.blocksize = info.blocksize;
  state.dtype = dtype_named(info.dtype, state_key + " dtype", true);
  state.quant_storage = tensors.count("weight") ? tensors.at("weight").scalar_type() : at::kByte;
  state.nested = info.nested;
  state.nested_offset = static_cast<float>(info.nested_offset);  // bnb: torch.tensor(float(offset)), float32
  if (!info.nested && (tensors.count("weight.nested_absmax") || tensors.count("weight.nested_quant_map")))
    throw std::invalid_argument("weight.nested_absmax: present, but the quant state has no nested_offset");
  return std::make_shared<Linear4bit>(
      shape.out_features, shape.in_features, state, bytes_of(sdk::find_tensor(tensors, "weight")),
      sdk::find_tensor(tensors, "weight.absmax"), sdk::find_tensor(tensors, "weight.nested_absmax"),
      sdk::find_tensor(tensors, "weight.nested_quant_map"), bias);
}

std::shared_ptr<sdk::LinearModule> FourBitFormat::quantize(const at::Tensor& weight, const at::Tensor& bias,
                                                           const std::string& options_json, const at::Tensor&) const {
  return Linear4bit::from_float(weight, bias, state_from(four_bit_options(options_json, Source::Options)));
}

std::string FourBitFormat::quantization_config(const std::string& options_json) const {
  return quantization_config_json(four_bit_options(options_json, Source::Options));
}

sdk::TensorMap FourBitFormat::save(const sdk::LinearModule& layer) const {
  const auto* l = dynamic_cast<const Linear4bit*>(&layer);
  if (l == nullptr) throw std::invalid_argument("bnb_4bit cannot save a " + layer.type_name() + " layer");
  const FourBitState& s = l->state();
  QuantStateInfo info;
  info.quant_type = name_of(s.quant_type);
  info.blocksize = s.blocksize;
  info.dtype = name_of_dtype(s.dtype);
  info.shape = {l->out_features(), l->in_features()};
  info.nested = s.nested;
  info.nested_offset = s.nested_offset;
  const std::string text = encode_quant_state(info);
  at::Tensor blob = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
  std::copy(text.begin(), text.end(), reinterpret_cast<char*>(blob.data_ptr<uint8_t>()));

  at::Tensor weight = l->packed();
  if (s.quant_storage != at::kByte) {
    const int64_t item = c10::elementSize(s.quant_storage);
    if (weight.numel() % item != 0)
      throw std::invalid_argument("bnb_4bit_quant_storage: " + std::to_string(weight.numel()) +
                                  " packed bytes do not fill whole " + name_of_dtype(s.quant_storage) + " elements");
    weight = weight.reshape({-1}).view(s.quant_storage).reshape({-1, 1});
  }
  sdk::TensorMap out{{"weight", weight},
                     {"weight.absmax", l->absmax()},
                     {"weight.quant_map", quant_map(s.quant_type)},
                     {kStatePrefix + info.quant_type, blob}};
  if (s.nested) {
    out["weight.nested_absmax"] = l->nested_absmax();
    out["weight.nested_quant_map"] = l->nested_quant_map();
  }
  if (l->bias().defined()) out["bias"] = l->bias();
  return out;
}

}  // namespace oft::bnb
