#pragma once
// Helpers shared by the test suites: tensor comparison with a stated relative tolerance, errors that must
// name what is wrong, and the golden data written by tests/golden/*.py with the real PEFT.
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "oft/io/safetensors.h"
#include "oft/sdk/linear_format.h"

namespace oft::test {

// max |actual - expected| / max(|expected|, tiny): a norm-wise relative error.
double relative_error(const at::Tensor& actual, const at::Tensor& expected);

// Passes when shapes match and relative_error <= rtol; the message names `what`.
::testing::AssertionResult close(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                                 const std::string& what);

// Passes when `f` throws std::invalid_argument whose message contains every one of `parts`.
::testing::AssertionResult throws_naming(const std::function<void()>& f, const std::vector<std::string>& parts);
// One part (a template, so that a braced list of parts still means the vector).
template <class Part, class = std::enable_if_t<std::is_convertible_v<const Part&, std::string>>>
::testing::AssertionResult throws_naming(const std::function<void()>& f, const Part& part) {
  return throws_naming(f, std::vector<std::string>{std::string(part)});
}

struct GoldenFile {
  safetensors::Contents contents;
  nlohmann::json cases;     // metadata "cases"
  nlohmann::json versions;  // metadata "versions"
  at::Tensor get(const std::string& name) const;
  bool has(const std::string& name) const { return contents.tensors.count(name) != 0; }
};

GoldenFile load_golden(const std::string& file_name);

// One entry of a golden file's "cases", with its tensors, which the file stores as "<name>/<field>".
struct GoldenCase {
  std::string name;
  nlohmann::json meta;
  std::string quantization_config;  // meta's quantization_config as JSON text, as a checkpoint's config.json holds it
  // From meta's in_features, out_features and bias (true when absent). Left at its defaults in files whose cases all
  // quantize one shared layer and so carry no shape of their own.
  sdk::LinearShape shape;
  const GoldenFile* file = nullptr;

  at::Tensor get(const std::string& field) const { return file->get(name + "/" + field); }
  bool has(const std::string& field) const { return file->has(name + "/" + field); }
  // The module's state_dict as the generator saved it: meta's state_keys, each stored as "<name>/state/<key>".
  sdk::TensorMap state() const;
};

// Every case of `file`, in the file's order. They point into `file`, which must outlive them.
std::vector<GoldenCase> golden_cases(const GoldenFile& file);

}  // namespace oft::test
