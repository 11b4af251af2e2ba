#pragma once
// What a backend plugin writes to become loadable: one OFT_PLUGIN line naming the plugin, its
// version and a function that adds its dispatchers to the host's Registrar.
//
//   #include "oft/sdk/dispatcher.h"
//   #include "oft/sdk/plugin.h"
//   void register_awq(oft::sdk::Registrar& registrar) {
//     registrar.add(std::make_shared<AwqDispatcher>());        // puts OFT on its layers
//     registrar.add_format(std::make_shared<AwqFormat>());     // loads and quantizes its layers
//   }
//   OFT_PLUGIN("awq", "0.3.1", register_awq)   // the library must be liboft_backend_awq.so
//
// The macro defines the exported C entry point and its descriptor (plugin_abi.h), recording the
// LibTorch version and C++ ABI this file is compiled with, and converts any exception thrown by the
// registration function into an error text: no exception crosses the C boundary.
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>

#include <torch/version.h>

#include "oft/sdk/plugin_abi.h"
#include "oft/sdk/visibility.h"

namespace oft::sdk {

class Dispatcher;
class LinearFormat;

// The host's side of registration. Dispatchers added here are asked in priority order together with
// the host's built-in ones; formats become loaders and quantizers for the host's checkpoint reader and
// `oft quantize`. Throws if a dispatcher or format is null or its name is taken; the host then
// rejects the whole plugin (nothing it added is kept).
class OFT_SDK_VISIBLE Registrar {
 public:
  virtual void add(std::shared_ptr<Dispatcher> dispatcher) = 0;
  virtual void add_format(std::shared_ptr<LinearFormat> format) = 0;  // \since ABI 1.1
  // This plugin's section of the host config ("plugins": {"config": {"<name>": {...}}}) as JSON text;
  // "{}" when the host gives none.
  virtual std::string config_json() const = 0;  // \since ABI 1.1

 protected:
  ~Registrar() = default;
};

namespace detail {

constexpr bool is_valid_plugin_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* c = name; *c != '\0'; ++c)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  return true;
}

inline void write_error(char* error, std::size_t error_size, const char* text) noexcept {
  if (error == nullptr || error_size == 0) return;
  std::strncpy(error, text, error_size - 1);
  error[error_size - 1] = '\0';
}

inline OftPluginStatus call_register(void (*register_function)(Registrar&), OftRegistrar* registrar, char* error,
                                     std::size_t error_size) noexcept {
  try {
    register_function(*reinterpret_cast<Registrar*>(registrar));
    return OFT_PLUGIN_OK;
  } catch (const std::exception& e) {
    write_error(error, error_size, e.what());
  } catch (...) {
    write_error(error, error_size, "an exception not derived from std::exception");
  }
  return OFT_PLUGIN_FAILED;
}

}  // namespace detail
}  // namespace oft::sdk

#define OFT_PLUGIN(plugin_name, plugin_version, register_function)                                    \
  static_assert(oft::sdk::detail::is_valid_plugin_name(plugin_name),                                  \
                "OFT_PLUGIN: the name must be [a-z0-9_]+ (the library is liboft_backend_<name>.so)"); \
  extern "C" OFT_PLUGIN_EXPORT const OftPluginDescriptor* OFT_PLUGIN_ENTRY(void) {                    \
    static const OftPluginDescriptor descriptor = {                                                   \
        sizeof(OftPluginDescriptor),                                                                  \
        OFT_PLUGIN_ABI_MAJOR,                                                                         \
        OFT_PLUGIN_ABI_MINOR,                                                                         \
        plugin_name,                                                                                  \
        plugin_version,                                                                               \
        TORCH_VERSION,                                                                                \
        _GLIBCXX_USE_CXX11_ABI,                                                                       \
        [](OftRegistrar* registrar, char* error, std::size_t error_size) noexcept {                   \
          return oft::sdk::detail::call_register(register_function, registrar, error, error_size);    \
        }};                                                                                           \
    return &descriptor;                                                                               \
  }
