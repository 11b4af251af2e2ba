#pragma once
// The quantized linear formats the host knows: each backend plugin's loaders and quantizers
// (sdk::LinearFormat). The checkpoint loader asks it which format a module's tensors are in;
// `oft quantize` asks for a format by name. Thread-safe.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oft/sdk/linear_format.h"

namespace oft {

struct FormatInfo {
  std::string name;
  std::string origin;  // as given to add(), e.g. "plugin 'bnb' (/path/liboft_backend_bnb.so)"
};

class FormatRegistry {
 public:
  // `owner` keeps the plugin library loaded while the registry holds the format. A second format
  // with the same name is a UsageError naming both origins.
  void add(std::shared_ptr<sdk::LinearFormat> format, std::shared_ptr<const void> owner = nullptr,
           std::string origin = "");

  // Sorted by name.
  std::vector<FormatInfo> describe() const;
  bool empty() const;

  // The format named `name`; UsageError listing the known names when there is none.
  std::shared_ptr<const sdk::LinearFormat> get(const std::string& name) const;

  // The layer for module `path` when a format recognizes its checkpoint tensors, else nullptr
  // (a dense module). Formats are asked in name order; the first that recognizes the tensors loads
  // them. Their errors become FormatError naming the module, the format and where it comes from.
  std::shared_ptr<sdk::LinearModule> load(const std::string& path, const sdk::TensorMap& tensors,
                                          const sdk::LinearShape& shape,
                                          const std::string& quantization_config_json) const;

  // Quantizes with format `name`; errors name the format (and `path`, the module, when given).
  std::shared_ptr<sdk::LinearModule> quantize(const std::string& name, const std::string& path,
                                              const at::Tensor& weight, const at::Tensor& bias,
                                              const std::string& options_json,
                                              const at::Tensor& calibration) const;

  // The checkpoint tensors of `layer`, through the format that made it.
  sdk::TensorMap save(const std::string& path, const sdk::LinearModule& layer) const;

 private:
  struct Entry {
    std::shared_ptr<const void> owner;  // released after the format
    std::shared_ptr<sdk::LinearFormat> format;
    std::string name;
    std::string origin;
  };
  const Entry& find(const std::string& name) const;  // caller holds mutex_
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // sorted by name
};

}  // namespace oft
