#include "inc_test_data.h"

#include <stdexcept>

namespace oft::inc::test {

const oft::test::GoldenFile& golden() {
  static const oft::test::GoldenFile file = oft::test::load_golden("inc/inc_layers.safetensors");
  return file;
}

std::vector<GoldenCase> golden_cases() { return oft::test::golden_cases(golden()); }

GoldenCase golden_case(const std::string& name) {
  for (auto& c : golden_cases())
    if (c.name == name) return c;
  throw std::out_of_range("no INC golden case " + name);
}

sdk::LinearShape golden_shape() {
  at::Tensor w = golden().get("weight");
  return {w.size(1), w.size(0), true};
}

std::string quantize_options(const GoldenCase& c) {
  return nlohmann::json{{"fp8_config", c.meta.at("fp8_config")},
                        {"scale_method", c.meta.at("scale_method")},
                        {"scale_format", c.meta.at("scale_format")}}
      .dump();
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  return at::equal(a.reshape({-1}).contiguous().view(at::kByte), b.reshape({-1}).contiguous().view(at::kByte));
}

}  // namespace oft::inc::test
