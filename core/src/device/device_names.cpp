// Parsing the device and dtype names users write (--device, --dtype, host and train configs).
#include <cctype>
#include <string>

#include "oft/device/device.h"
#include "oft/errors.h"

namespace oft {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

c10::Device parse_device(const std::string& text, const std::string& what) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text == "cuda") return c10::Device(c10::kCUDA);
  const std::string prefix = "cuda:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string index = text.substr(prefix.size());
    // c10::DeviceIndex is 8 bits; two digits are far beyond any machine.
    if (all_digits(index) && index.size() <= 2)
      return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(index)));
  }
  throw UsageError(what + ": expected cpu, cuda or cuda:N (N = 0..99), got '" + text + "'");
}

c10::ScalarType parse_dtype(const std::string& text, const std::string& what) {
  if (text == "fp32" || text == "float32") return c10::kFloat;
  if (text == "bf16" || text == "bfloat16") return c10::kBFloat16;
  if (text == "fp16" || text == "float16") return c10::kHalf;
  throw UsageError(what + ": expected fp32, bf16 or fp16 (or float32, bfloat16, float16), got '" + text + "'");
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return c10::toString(dtype);
  }
}

}  // namespace oft
