#pragma once
// Checks a plugin runs on the tensors it is given (checkpoint tensors, inputs), throwing
// std::invalid_argument with the message every plugin uses:
//   gptq: tensor "qweight" has shape (3, 4), expected (4, 4)
// `plugin` is the plugin's name, the message's first word.
//
// Header-only helpers, not part of the plugin ABI: every plugin compiles its own copy (with hidden
// symbols), so nothing here crosses the host/plugin boundary (tests/abi leaves this header out).
#include <cstddef>
#include <stdexcept>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace oft::sdk {

// "(3, 4)"; "()" for a scalar.
inline std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "(";
  for (size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + ")";
}

inline void expect_shape(const std::string& plugin, const at::Tensor& t, const std::string& name,
                         at::IntArrayRef expected) {
  if (t.sizes() != expected)
    throw std::invalid_argument(plugin + ": tensor \"" + name + "\" has shape " + shape_text(t.sizes()) +
                                ", expected " + shape_text(expected));
}

inline void expect_dtype(const std::string& plugin, const at::Tensor& t, const std::string& name,
                         at::ScalarType dtype) {
  if (t.scalar_type() != dtype)
    throw std::invalid_argument(plugin + ": tensor \"" + name + "\" has dtype " + c10::toString(t.scalar_type()) +
                                ", expected " + c10::toString(dtype));
}

// For plugins without device kernels. `why` ends the message, after "is on cuda:0; ". An undefined
// tensor passes (callers check presence themselves, with their own message).
inline void expect_cpu(const std::string& plugin, const at::Tensor& t, const std::string& name,
                       const std::string& why) {
  if (t.defined() && !t.device().is_cpu())
    throw std::invalid_argument(plugin + ": tensor \"" + name + "\" is on " + t.device().str() + "; " + why);
}

}  // namespace oft::sdk
