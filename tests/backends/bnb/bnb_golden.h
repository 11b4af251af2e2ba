#pragma once
// Reading tests/golden/data/bnb (written by tests/golden/gen_bnb.py with the real bitsandbytes).
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "oft/sdk/linear_format.h"
#include "test_support.h"

namespace oft::bnb::test {

using nlohmann::json;

// The module's state_dict as bitsandbytes wrote it: "<case>/state/<key>" -> key.
inline sdk::TensorMap state_of(const oft::test::GoldenFile& g, const json& c) {
  sdk::TensorMap tensors;
  for (const auto& key : c["state_keys"]) {
    const std::string k = key.get<std::string>();
    tensors[k] = g.get(c["name"].get<std::string>() + "/state/" + k);
  }
  return tensors;
}

inline at::ScalarType dtype_named(const std::string& name) {
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float32") return at::kFloat;
  throw std::invalid_argument("test: unknown dtype " + name);
}

// Metadata entries gen_bnb.py stored with json.dumps.
inline json metadata(const oft::test::GoldenFile& g, const std::string& key) {
  return json::parse(g.contents.metadata.at(key));
}

inline ::testing::AssertionResult identical(const at::Tensor& actual, const at::Tensor& expected,
                                            const std::string& what) {
  if (!actual.defined()) return ::testing::AssertionFailure() << what << ": undefined";
  if (actual.scalar_type() != expected.scalar_type() || !actual.sizes().equals(expected.sizes()))
    return ::testing::AssertionFailure() << what << ": " << actual.scalar_type() << actual.sizes() << " vs expected "
                                         << expected.scalar_type() << expected.sizes();
  // Bit for bit: packed codes saved as float dtypes may read as NaN, and -0.0 must stay -0.0.
  const at::Tensor a = actual.contiguous().view({-1}).view(at::kByte);
  const at::Tensor e = expected.contiguous().view({-1}).view(at::kByte);
  if (!at::equal(a, e)) {
    const auto differ = at::ne(a, e).sum().item<int64_t>();
    return ::testing::AssertionFailure() << what << ": " << differ << " bytes of " << e.numel() << " differ";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace oft::bnb::test
