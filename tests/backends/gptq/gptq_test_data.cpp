#include "gptq_test_data.h"

namespace oft::gptq::test {

const oft::test::GoldenFile& golden() {
  static const oft::test::GoldenFile file = oft::test::load_golden("gptq/gptq_layers.safetensors");
  return file;
}

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (const auto& c : oft::test::golden_cases(golden()))
    cases.push_back({c, GptqConfig::from_quantization_config(c.quantization_config)});
  return cases;
}

sdk::TensorMap checkpoint_tensors(const GoldenCase& c) {
  sdk::TensorMap tensors;
  for (const char* field : {"qweight", "qzeros", "scales", "g_idx", "bias"}) tensors[field] = c.get(field);
  return tensors;
}

sdk::LinearShape golden_shape() {
  at::Tensor w = golden().get("weight");
  return {w.size(1), w.size(0), true};
}

double output_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& x) {
  at::Tensor w = weight.to(at::kDouble), xd = x.to(at::kDouble);
  return (xd.mm((w - quantized.to(at::kDouble)).t())).norm().item<double>() / xd.mm(w.t()).norm().item<double>();
}

}  // namespace oft::gptq::test
