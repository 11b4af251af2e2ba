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

std::vector<GoldenCase> cases(bool with_adapter) {
  std::vector<GoldenCase> out;
  for (const auto& c : oft::test::golden_cases(golden()))
    if ((c.name.rfind("oft_", 0) == 0) == with_adapter)
      out.push_back(
          {c, HqqSettings::from_quantization_config(c.quantization_config), dtype_named(c.meta.at("compute_dtype"))});
  return out;
}

}  // namespace

const oft::test::GoldenFile& golden() {
  static const oft::test::GoldenFile file = oft::test::load_golden("hqq/hqq_layers.safetensors");
  return file;
}

std::vector<GoldenCase> layer_cases() { return cases(false); }
std::vector<GoldenCase> oft_cases() { return cases(true); }

at::Tensor golden_weight() { return golden().get("weight"); }
at::Tensor golden_bias() { return golden().get("bias"); }
sdk::LinearShape golden_shape() { return {golden_weight().size(1), golden_weight().size(0), true}; }

}  // namespace oft::hqq::test
