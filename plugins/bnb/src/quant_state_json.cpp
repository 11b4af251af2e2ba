#include "quant_state_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace oft::bnb {

std::string python_float_repr(double value) {
  if (!std::isfinite(value)) throw std::invalid_argument("quant_state: nested_offset must be finite");
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific).ptr;
  const std::string sci(buf, end);  // shortest round-trip digits, "d.ddde±XX"
  const size_t e = sci.find('e');
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string digits;
  bool negative = false;
  for (char c : sci.substr(0, e)) {
    if (c == '-')
      negative = true;
    else if (c != '.')
      digits += c;
  }
  std::string out;
  const int n = static_cast<int>(digits.size());
  if (exponent < -4 || exponent >= 16) {  // Python's repr switches to exponent form outside [1e-4, 1e16)
    out = digits.substr(0, 1) + (n > 1 ? "." + digits.substr(1) : "");
    char exp_text[16];  // "e-324" needs 6; GCC cannot tell that the exponent has at most 3 digits
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_text;
  } else if (exponent < 0) {
    out = "0." + std::string(-exponent - 1, '0') + digits;
  } else if (n > exponent + 1) {
    out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
  } else {
    out = digits + std::string(exponent + 1 - n, '0') + ".0";
  }
  return (negative ? "-" : "") + out;
}

std::string encode_quant_state(const QuantStateInfo& info) {
  // json.dumps with its default separators ", " and ": ", keys in QuantState.as_dict order.
  std::string shape;
  for (size_t i = 0; i < info.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(info.shape[i]);
  std::string text = "{\"quant_type\": \"" + info.quant_type + "\", \"blocksize\": " + std::to_string(info.blocksize) +
                     ", \"dtype\": \"" + info.dtype + "\", \"shape\": [" + shape + "]";
  if (info.nested)
    text += ", \"nested_blocksize\": " + std::to_string(info.nested_blocksize) + ", \"nested_dtype\": \"" +
            info.nested_dtype + "\", \"nested_offset\": " + python_float_repr(info.nested_offset);
  return text + "}";
}

QuantStateInfo decode_quant_state(const std::string& text, const std::string& tensor_name) {
  using nlohmann::json;
  const auto fail = [&](const std::string& what) { throw std::invalid_argument(tensor_name + ": " + what); };
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    fail("expected UTF-8 JSON of the quant state's fields, got text that does not parse");
  }
  if (!j.is_object()) fail("expected a JSON object");
  static const std::set<std::string> known = {"quant_type",       "blocksize",    "dtype",        "shape",
                                              "nested_blocksize", "nested_dtype", "nested_offset"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) fail("unknown quant state field '" + key + "'");
  const auto need = [&](const char* key, bool ok, const char* expected) -> const json& {
    if (!j.contains(key)) fail(std::string("missing field '") + key + "'");
    if (!ok) fail(std::string("field '") + key + "' must be " + expected + ", got " + j[key].dump());
    return j[key];
  };
  QuantStateInfo info;
  info.quant_type =
      need("quant_type", j.contains("quant_type") && j["quant_type"].is_string(), "a string").get<std::string>();
  info.blocksize =
      need("blocksize", j.contains("blocksize") && j["blocksize"].is_number_integer(), "an integer").get<int64_t>();
  info.dtype = need("dtype", j.contains("dtype") && j["dtype"].is_string(), "a string").get<std::string>();
  const json& shape = need("shape", j.contains("shape") && j["shape"].is_array(), "a list of integers");
  for (const json& d : shape) {
    if (!d.is_number_integer()) fail("field 'shape' must be a list of integers, got " + shape.dump());
    info.shape.push_back(d.get<int64_t>());
  }
  info.nested = j.contains("nested_offset") || j.contains("nested_blocksize") || j.contains("nested_dtype");
  if (info.nested) {
    info.nested_blocksize =
        need("nested_blocksize", j.contains("nested_blocksize") && j["nested_blocksize"].is_number_integer(),
             "an integer")
            .get<int64_t>();
    info.nested_dtype = need("nested_dtype", j.contains("nested_dtype") && j["nested_dtype"].is_string(), "a string")
                            .get<std::string>();
    info.nested_offset =
        need("nested_offset", j.contains("nested_offset") && j["nested_offset"].is_number(), "a number").get<double>();
  }
  return info;
}

}  // namespace oft::bnb
