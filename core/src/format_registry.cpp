#include "oft/format_registry.h"

#include <algorithm>

#include "oft/errors.h"

namespace oft {
namespace {

std::string described(const std::string& name, const std::string& origin) {
  return "format '" + name + "'" + (origin.empty() ? "" : " of " + origin);
}

std::string where(const std::string& path) { return path.empty() ? "" : "module " + path + ": "; }

}  // namespace

void FormatRegistry::add(std::shared_ptr<sdk::LinearFormat> format, std::shared_ptr<const void> owner,
                         std::string origin) {
  if (!format) throw UsageError("cannot register a null quantized-linear format");
  std::string name = format->name();
  if (name.empty()) throw UsageError("a quantized-linear format from " + origin + " has an empty name");
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_)
    if (e.name == name)
      throw UsageError("a format named '" + name + "' is already registered by " +
                       (e.origin.empty() ? std::string("the host") : e.origin));
  entries_.push_back({std::move(owner), std::move(format), std::move(name), std::move(origin)});
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
}

std::vector<FormatInfo> FormatRegistry::describe() const {
  std::lock_guard lock(mutex_);
  std::vector<FormatInfo> out;
  for (const auto& e : entries_) out.push_back({e.name, e.origin});
  return out;
}

bool FormatRegistry::empty() const {
  std::lock_guard lock(mutex_);
  return entries_.empty();
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
  std::lock_guard lock(mutex_);
  return find(name).format;
}

std::shared_ptr<sdk::LinearModule> FormatRegistry::load(const std::string& path, const sdk::TensorMap& tensors,
                                                         const sdk::LinearShape& shape,
                                                         const std::string& quantization_config_json) const {
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    bool recognized = false;
    try {
      recognized = e.format->recognizes(tensors, quantization_config_json);
    } catch (const std::exception& error) {
      throw FormatError(where(path) + described(e.name, e.origin) + " failed while checking the tensors: " + error.what());
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
  std::lock_guard lock(mutex_);
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
  std::lock_guard lock(mutex_);
  const Entry& e = find(layer.format());
  try {
    return e.format->save(layer);
  } catch (const std::exception& error) {
    throw FormatError(where(path) + described(e.name, e.origin) + " cannot save it: " + error.what());
  }
}

}  // namespace oft
