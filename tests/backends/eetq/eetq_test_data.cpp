#include "eetq_test_data.h"

namespace oft::eetq::test {

const oft::test::GoldenFile& golden() {
  static const oft::test::GoldenFile file = oft::test::load_golden("eetq/eetq_layers.safetensors");
  return file;
}

at::Tensor GoldenCase::get(const std::string& field) const { return file->get(name + "/" + field); }

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (const auto& meta : golden().cases) {
    GoldenCase c;
    c.name = meta.at("name");
    c.meta = meta;
    c.quantization_config = meta.at("quantization_config").dump();
    c.shape = {meta.at("in_features").get<int64_t>(), meta.at("out_features").get<int64_t>(),
               meta.at("bias").get<bool>()};
    c.file = &golden();
    cases.push_back(std::move(c));
  }
  return cases;
}

sdk::TensorMap checkpoint_tensors(const GoldenCase& c) {
  sdk::TensorMap tensors{{"weight", c.get("weight")}, {"weight_scales", c.get("weight_scales")}};
  if (c.shape.bias) tensors["bias"] = c.get("bias");
  return tensors;
}

}  // namespace oft::eetq::test
