#include "aqlm_test_data.h"

#include <map>

namespace oft::aqlm::test {

at::Tensor GoldenCase::codebooks() const {
  if (has("codebooks")) return get("codebooks");
  const at::Tensor used = get("codebooks_used");
  at::Tensor full = at::zeros(
      {config.num_codebooks, config.codebook_size(), config.out_group_size, config.in_group_size}, used.options());
  full.index_copy_(1, get("codebook_rows"), used);
  return full;
}

sdk::TensorMap GoldenCase::checkpoint() const {
  sdk::TensorMap tensors{{"codes", get("codes")}, {"codebooks", codebooks()}, {"scales", get("scales")}};
  if (has("bias")) tensors["bias"] = get("bias");
  return tensors;
}

std::vector<GoldenCase> golden_cases(const std::string& file_name) {
  static std::map<std::string, oft::test::GoldenFile> files;
  auto it = files.find(file_name);
  if (it == files.end())
    it = files.emplace(file_name, oft::test::load_golden("aqlm/" + file_name + ".safetensors")).first;
  std::vector<GoldenCase> cases;
  for (const auto& c : oft::test::golden_cases(it->second))
    cases.push_back({c, AqlmConfig::from_quantization_config(c.quantization_config)});
  return cases;
}

std::string layout_name(const CodebookLayout& l) {
  return std::to_string(l.codebooks) + "x" + std::to_string(l.nbits) + " og" + std::to_string(l.out_group) + " ig" +
         std::to_string(l.in_group);
}

AqlmConfig config_of(const CodebookLayout& l) {
  AqlmConfig config;
  config.num_codebooks = l.codebooks;
  config.nbits_per_codebook = l.nbits;
  config.out_group_size = l.out_group;
  config.in_group_size = l.in_group;
  return config;
}

}  // namespace oft::aqlm::test
