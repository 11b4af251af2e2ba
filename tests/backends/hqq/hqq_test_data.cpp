#include "hqq_test_data.h"

#include <stdexcept>

namespace oft::hqq::test {
namespace {

at::ScalarType dtype_named(const std::string& name) {
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float32") return at::kFloat;
  throw std::invalid_argument("golden: unknown dtype " + name);
}

std::vector<GoldenCase> cases(bool oft) {
  std::vector<GoldenCase> out;
  for (const auto& meta : golden().cases) {
    GoldenCase c;
    c.name = meta.at("name");
    if ((c.name.rfind("oft_", 0) == 0) != oft) continue;
    c.meta = meta;
    c.quantization_config = meta.at("quantization_config").dump();
    c.settings = HqqSettings::from_quantization_config(c.quantization_config);
    c.compute_dtype = dtype_named(meta.at("compute_dtype"));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

const oft::test::GoldenFile& golden() {
  static const oft::test::GoldenFile file = oft::test::load_golden("hqq/hqq_layers.safetensors");
  return file;
}

at::Tensor GoldenCase::get(const std::string& field) const { return golden().get(name + "/" + field); }

sdk::TensorMap GoldenCase::state() const {
  sdk::TensorMap tensors;
  for (const auto& key : meta.at("state_keys"))
    tensors[key.get<std::string>()] = get("state/" + key.get<std::string>());
  return tensors;
}

std::vector<GoldenCase> layer_cases() { return cases(false); }
std::vector<GoldenCase> oft_cases() { return cases(true); }

at::Tensor golden_weight() { return golden().get("weight"); }
at::Tensor golden_bias() { return golden().get("bias"); }
sdk::LinearShape golden_shape() { return {golden_weight().size(1), golden_weight().size(0), true}; }

}  // namespace oft::hqq::test
