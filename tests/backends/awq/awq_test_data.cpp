#include "awq_test_data.h"

namespace oft::awq::test {

const oft::test::GoldenFile& golden_layers() {
  static const oft::test::GoldenFile file = oft::test::load_golden("awq/awq_layers.safetensors");
  return file;
}

const oft::test::GoldenFile& golden_clip() {
  static const oft::test::GoldenFile file = oft::test::load_golden("awq/awq_clip.safetensors");
  return file;
}

const oft::test::GoldenFile& golden_oft() {
  static const oft::test::GoldenFile file = oft::test::load_golden("awq/awq_oft.safetensors");
  return file;
}

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (const auto& c : oft::test::golden_cases(golden_layers()))
    cases.push_back({c, AwqConfig::from_quantization_config(c.quantization_config)});
  return cases;
}

sdk::TensorMap checkpoint_tensors(const GoldenCase& c) {
  sdk::TensorMap tensors;
  // Copies: a layer's buffers are these tensors, and tests change them in place (the cache test's scales, merges).
  for (const char* field : {"qweight", "qzeros", "scales", "bias"}) tensors[field] = c.get(field).clone();
  return tensors;
}

double output_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& x) {
  at::Tensor w = weight.to(at::kDouble), xd = x.to(at::kDouble);
  return (xd.mm((w - quantized.to(at::kDouble)).t())).norm().item<double>() / xd.mm(w.t()).norm().item<double>();
}

}  // namespace oft::awq::test
