#pragma once
// Strict reading of the JSON text a plugin is handed (a checkpoint's quantization_config, the options of a
// quantize method): errors that name the plugin, the text and the key, and values refused unless they convert to
// the type asked for exactly. Header-only; needs nlohmann/json (find_package(nlohmann_json 3.10), which the oft
// build and its plugins use).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace oft::sdk {

// `text` as a JSON object; "" reads as {}. `who` names the plugin and `what` the text in the errors:
// "<who>: <what> is not valid JSON: ..." and "<who>: <what> must be a JSON object".
inline nlohmann::json parse_json_object(const std::string& text, const std::string& who, const std::string& what) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(who + ": " + what + " is not valid JSON: " + e.what());
  }
  if (!value.is_object()) throw std::invalid_argument(who + ": " + what + " must be a JSON object");
  return value;
}

// Whether `value` converts to T exactly: a boolean to bool, a string to std::string, any number to a floating T,
// and to an integral T only an integer within T's range (nlohmann's own get<T>() casts a fraction or a number
// out of range without a word).
template <class T>
bool json_holds(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value.is_boolean();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return value.is_string();
  } else if constexpr (std::is_floating_point_v<T>) {
    return value.is_number();
  } else {
    static_assert(std::is_integral_v<T>, "json_holds: T must be bool, std::string, a floating or an integral type");
    if (!value.is_number_integer()) return false;
    if (value.is_number_unsigned())
      return value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    const int64_t v = value.get<int64_t>();
    return v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           (v < 0 || static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
  }
}

// object[key] as T (the key must be there). Unless json_holds<T>: std::invalid_argument
// "<who>: <what> \"<key>\" must be <expected>, got <the value>".
template <class T>
T json_value(const nlohmann::json& object, const std::string& key, const std::string& who, const std::string& what,
             const std::string& expected) {
  const nlohmann::json& value = object.at(key);
  if (!json_holds<T>(value))
    throw std::invalid_argument(who + ": " + what + " \"" + key + "\" must be " + expected + ", got " + value.dump());
  return value.get<T>();
}

// Every key of `object` must be one of `known` (a misspelt option must not fall back to its default unnoticed),
// else std::invalid_argument "<who>: unknown <what> \"<key>\" (expected <known, comma-separated>)", or
// "(expected none)" when nothing is known.
inline void reject_unknown_keys(const nlohmann::json& object, const std::vector<std::string>& known,
                                const std::string& who, const std::string& what) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string expected;
    for (const std::string& key : known) expected += (expected.empty() ? "" : ", ") + key;
    throw std::invalid_argument(who + ": unknown " + what + " \"" + item.key() + "\" (expected " +
                                (expected.empty() ? "none" : expected) + ")");
  }
}

}  // namespace oft::sdk
