#include "test_support.h"

#include "oft/errors.h"

namespace oft::test {

double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  auto a = actual.detach().to(at::kDouble);
  auto e = expected.detach().to(at::kDouble);
  const double scale = std::max(e.abs().max().item<double>(), 1e-12);
  return (a - e).abs().max().item<double>() / scale;
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

}  // namespace oft::test
