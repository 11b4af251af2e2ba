#include "oft/plugin/format_registry.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "oft/errors.h"

namespace oft {
namespace {

std::string described(const std::string& name, const std::string& origin) {
  return "format '" + name + "'" + (origin.empty() ? "" : " of " + origin);
}

std::string where(const std::string& path) { return path.empty() ? "" : "module " + path + ": "; }

std::string format_registrant(const std::string& origin) { return origin.empty() ? std::string("the host") : origin; }

// The quantize methods of `format`: UsageError for an empty or repeated method name or default
// options that are not a JSON object.
std::vector<sdk::QuantizeMethod> checked_methods(const sdk::LinearFormat& format) {
  std::vector<sdk::QuantizeMethod> methods = format.quantize_methods();
  std::set<std::string> names;
  for (const auto& m : methods) {
    if (m.name.empty()) throw UsageError("a quantize method has an empty name");
    if (!names.insert(m.name).second) throw UsageError("quantize method '" + m.name + "' is offered twice");
    const auto options = nlohmann::json::parse(m.default_options_json, nullptr, /*allow_exceptions=*/false);
    if (!options.is_object())
      throw UsageError("quantize method '" + m.name + "' has default options that are not a JSON object: '" +
                       m.default_options_json + "'");
  }
  return methods;
}

}  // namespace

void FormatRegistry::check(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats,
                           const std::string& origin) const {
  (void)checked(formats, origin);
}

std::vector<std::string> FormatRegistry::add(const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats,
                                             const std::string& origin) {
  std::vector<Entry> entries = checked(formats, origin);
  std::vector<std::string> names;
  for (auto& e : entries) {
    names.push_back(e.name);
    entries_.push_back(std::move(e));
  }
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return names;
}

std::vector<FormatRegistry::Entry> FormatRegistry::checked(
    const std::vector<std::shared_ptr<sdk::LinearFormat>>& formats, const std::string& origin) const {
  std::vector<Entry> entries;
  for (const auto& format : formats) {
    if (!format) throw UsageError("cannot register a null quantized-linear format");
    Entry entry{format, "", origin, {}};
    try {
      entry.name = format->name();
    } catch (const std::exception& error) {
      throw UsageError("a quantized-linear format from " + format_registrant(origin) +
                       " threw when asked its name(): " + error.what());
    }
    if (entry.name.empty())
      throw UsageError("a quantized-linear format from " + format_registrant(origin) + " has an empty name");
    try {
      entry.methods = checked_methods(*format);
    } catch (const std::exception& error) {
      throw UsageError(described(entry.name, origin) + ": " + error.what());
    }
    // Against the registered formats and those of this batch checked before it.
    for (const std::vector<Entry>* others : {&entries_, static_cast<const std::vector<Entry>*>(&entries)})
      for (const auto& e : *others) {
        if (e.name == entry.name)
          throw UsageError("a format named '" + entry.name + "' is already registered by " +
                           format_registrant(e.origin));
        for (const auto& taken : e.methods)
          for (const auto& m : entry.methods)
            if (m.name == taken.name)
              throw UsageError(described(entry.name, origin) + " offers quantize method '" + m.name +
                               "', already offered by format '" + e.name + "' of " + format_registrant(e.origin));
      }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<FormatInfo> FormatRegistry::describe() const {
  std::vector<FormatInfo> out;
  for (const auto& e : entries_) out.push_back({e.name, e.origin, e.methods});
  return out;
}

bool FormatRegistry::empty() const { return entries_.empty(); }

std::vector<MethodInfo> FormatRegistry::methods() const {
  std::vector<MethodInfo> out;
  for (const auto& e : entries_)
    for (const auto& m : e.methods) out.push_back({m, e.name, e.origin});
  std::sort(out.begin(), out.end(),
            [](const MethodInfo& a, const MethodInfo& b) { return a.method.name < b.method.name; });
  return out;
}

MethodInfo FormatRegistry::method(const std::string& name) const {
  const std::vector<MethodInfo> all = methods();
  for (const auto& m : all)
    if (m.method.name == name) return m;
  std::string known;
  for (const auto& m : all) known += (known.empty() ? "" : ", ") + m.method.name;
  throw UsageError("no quantize method named '" + name + "' is offered by the loaded formats (available: " +
                   (known.empty() ? "none; are the backend plugins on the plugin path?" : known) + ")");
}

std::string FormatRegistry::model_merge_refusal(const std::string& quantization_config_json) const {
  for (const auto& e : entries_) {
    try {
      if (std::string refusal = e.format->model_merge_refusal(quantization_config_json); !refusal.empty())
        return refusal;
    } catch (const std::exception& error) {
      throw FormatError(described(e.name, e.origin) +
                        " failed while checking whether the model may merge: " + error.what());
    }
  }
  return "";
}

const FormatRegistry::Entry& FormatRegistry::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return e;
  std::string known;
  for (const auto& e : entries_) known += (known.empty() ? "" : ", ") + e.name;
  throw UsageError("no quantized-linear format named '" + name + "' is loaded (loaded: " +
                   (known.empty() ? "none; are the backend plugins on the plugin path?" : known) + ")");
}

std::shared_ptr<const sdk::LinearFormat> FormatRegistry::get(const std::string& name) const {
  return find(name).format;
}

std::shared_ptr<sdk::LinearModule> FormatRegistry::load(const std::string& path, const sdk::TensorMap& tensors,
                                                        const sdk::LinearShape& shape,
                                                        const std::string& quantization_config_json) const {
  for (const auto& e : entries_) {
    bool recognized = false;
    try {
      recognized = e.format->recognizes(tensors, quantization_config_json);
    } catch (const std::exception& error) {
      throw FormatError(where(path) + described(e.name, e.origin) +
                        " failed while checking the tensors: " + error.what());
    }
    if (!recognized) continue;
    try {
      auto layer = e.format->load(tensors, shape, quantization_config_json);
      if (!layer) throw std::runtime_error("load() returned no layer");
      return layer;
    } catch (const std::exception& error) {
      throw FormatError(where(path) + described(e.name, e.origin) + " cannot load it: " + error.what());
    }
  }
  return nullptr;
}

std::shared_ptr<sdk::LinearModule> FormatRegistry::quantize(const std::string& name, const std::string& path,
                                                            const at::Tensor& weight, const at::Tensor& bias,
                                                            const std::string& options_json,
                                                            const at::Tensor& calibration) const {
  const Entry& e = find(name);
  try {
    auto layer = e.format->quantize(weight, bias, options_json, calibration);
    if (!layer) throw std::runtime_error("quantize() returned no layer");
    return layer;
  } catch (const std::exception& error) {
    throw FormatError(where(path) + described(e.name, e.origin) + " cannot quantize it: " + error.what());
  }
}

sdk::TensorMap FormatRegistry::save(const std::string& path, const sdk::LinearModule& layer) const {
  const Entry& e = find(layer.format());
  try {
    return e.format->save(layer);
  } catch (const std::exception& error) {
    throw FormatError(where(path) + described(e.name, e.origin) + " cannot save it: " + error.what());
  }
}

}  // namespace oft
