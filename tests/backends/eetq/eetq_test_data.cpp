#include "eetq_test_data.h"

namespace oft::eetq::test {

std::vector<GoldenCase> golden_cases() {
  static const oft::test::GoldenFile file = oft::test::load_golden("eetq/eetq_layers.safetensors");
  return oft::test::golden_cases(file);
}

sdk::TensorMap checkpoint_tensors(const GoldenCase& c) {
  sdk::TensorMap tensors{{"weight", c.get("weight")}, {"weight_scales", c.get("weight_scales")}};
  if (c.shape.bias) tensors["bias"] = c.get("bias");
  return tensors;
}

}  // namespace oft::eetq::test
