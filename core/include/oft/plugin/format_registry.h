#pragma once
// The quantized linear formats the host knows: each backend plugin's loaders and quantizers
// (sdk::LinearFormat). The checkpoint loader asks it which format a module's tensors are in and
// whether the model's quantization_config refuses merging; `oft quantize` finds a format by the
// quantize methods the formats offer. It is filled at start-up (load_plugins) and only read
// afterwards: add() must not run alongside anything else, while every const member may be called
// from several threads at once.
#include <memory>
#include <string>
#include <vector>

#include "oft/export.h"
#include "oft/sdk/linear_format.h"

namespace oft {

struct FormatInfo {
  std::string name;
  std::string origin;                        // as given to add(), e.g. "plugin 'x' (/path/liboft_backend_x.so)"
  std::vector<sdk::QuantizeMethod> methods;  // the `oft quantize` methods it offers
};

// A quantize method and the format that offers it.
struct MethodInfo {
  sdk::QuantizeMethod method;
  std::string format;
  std::string origin;  // the format's
};

class OFT_CORE_API FormatRegistry {
 public:
  // Throws UsageError, naming the format and `origin` (where it comes from, e.g. "plugin 'x'
  // (/path/liboft_backend_x.so)"), unless every one of `formats` answers name() and quantize_methods(),
  // has a non-empty name that no other of them or of those registered has, and offers well-formed
  // quantize methods (a non-empty name, default options that are a JSON object) whose names no
  // other format offers. Adds nothing.
  void check(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats, const std::string& origin = "") const;
  // Adds all of `formats` after the same check, or none; returns their names.
  std::vector<std::string> add(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats,
                               const std::string& origin = "");

  // Sorted by name.
  std::vector<FormatInfo> describe() const;
  bool empty() const;

  // Every format's quantize methods, sorted by method name.
  std::vector<MethodInfo> methods() const;
  // The method named `name`; UsageError listing the available methods when there is none.
  MethodInfo method(const std::string& name) const;

  // Why merging is refused for the whole of a model with this config.json "quantization_config"
  // (JSON text): the first refusal a format gives, in name order; "" when none refuses. A format that
  // throws is a FormatError naming it.
  std::string model_merge_refusal(const std::string& quantization_config_json) const;

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
                                              const std::string& options_json, const at::Tensor& calibration) const;

  // The checkpoint tensors of `layer`, through the format that made it.
  sdk::TensorMap save(const std::string& path, const sdk::LinearModule& layer) const;

 private:
  struct Entry {
    std::shared_ptr<sdk::LinearFormat> format;
    std::string name;  // name() and quantize_methods(), asked once
    std::string origin;
    std::vector<sdk::QuantizeMethod> methods;
  };
  // Asks each format its name and methods and runs check()'s rules on the answers.
  std::vector<Entry> checked(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats,
                             const std::string& origin) const;
  const Entry& find(const std::string& name) const;
  std::vector<Entry> entries_;  // sorted by name
};

}  // namespace oft
