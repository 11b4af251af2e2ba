#include "test_support.h"

#include <stdexcept>

#include "oft/errors.h"

namespace oft::test {

double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  auto a = actual.detach().to(at::kDouble);
  auto e = expected.detach().to(at::kDouble);
  const double scale = std::max(e.abs().max().item<double>(), 1e-12);
  return (a - e).abs().max().item<double>() / scale;
}

::testing::AssertionResult throws_naming(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      if (what.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << what << "\" does not name \"" << p << "\"";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw something else: " << e.what();
  }
  return ::testing::AssertionFailure() << "no std::invalid_argument thrown";
}

::testing::AssertionResult close(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                                 const std::string& what) {
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << what << ": shape " << actual.sizes() << " != expected " << expected.sizes();
  const double err = relative_error(actual, expected);
  if (err <= rtol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": relative error " << err << " > " << rtol;
}

at::Tensor GoldenFile::get(const std::string& name) const {
  auto it = contents.tensors.find(name);
  if (it == contents.tensors.end()) throw FormatError("golden tensor '" + name + "' is missing");
  return it->second;
}

GoldenFile load_golden(const std::string& file_name) {
  GoldenFile g;
  g.contents = safetensors::load(std::string(OFT_GOLDEN_DIR) + "/" + file_name);
  g.cases = nlohmann::json::parse(g.contents.metadata.at("cases"));
  g.versions = nlohmann::json::parse(g.contents.metadata.at("versions"));
  return g;
}

sdk::TensorMap GoldenCase::state() const {
  sdk::TensorMap tensors;
  for (const auto& key : meta.at("state_keys"))
    tensors[key.get<std::string>()] = get("state/" + key.get<std::string>());
  return tensors;
}

std::vector<GoldenCase> golden_cases(const GoldenFile& file) {
  std::vector<GoldenCase> cases;
  for (const auto& meta : file.cases) {
    GoldenCase c;
    c.name = meta.at("name");
    c.meta = meta;
    c.quantization_config = meta.at("quantization_config").dump();
    if (meta.contains("in_features") && meta.contains("out_features"))
      c.shape = {meta.at("in_features"), meta.at("out_features"), meta.value("bias", true)};
    c.file = &file;
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace oft::test
