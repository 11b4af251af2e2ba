#pragma once
// Loading a plugin's companion library (e.g. its CUDA kernels, which link the CUDA runtime) from the folder
// the plugin itself was loaded from, the first time the plugin needs it: start-up and CPU-only use then never
// load what the companion links. Name the companion anything but liboft_backend_<name>.so, which plugin
// discovery takes for a plugin.
//
// Header-only and torch-free, not part of the plugin ABI: each plugin compiles its own copy (inline
// functions only, no types).
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace oft::sdk {

// The folder of the shared object (or executable) that holds `address`: pass the address of any object or
// function of the calling library, e.g. a static variable of the plugin.
inline std::string library_folder_of(const void* address) {
  Dl_info info{};
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr)
    throw std::runtime_error("cannot tell which library holds address " +
                             std::to_string(reinterpret_cast<unsigned long long>(address)));
  const std::string file = info.dli_fname;
  const auto slash = file.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

// dlopen(<folder of anchor>/<file>) with its symbols kept local, then dlsym(symbol). The library stays loaded
// for the life of the process; loading it twice returns the same handle. Throws std::runtime_error naming
// the file, the symbol and the dynamic loader's reason.
inline void* load_companion_symbol(const void* anchor, const std::string& file, const char* symbol) {
  const std::string path = library_folder_of(anchor) + "/" + file;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw std::runtime_error("cannot load " + path + ": " + (why ? why : "unknown error"));
  }
  dlerror();  // clear, so that a null symbol value is not mistaken for an error below
  void* found = dlsym(handle, symbol);
  if (found == nullptr) {
    const char* why = dlerror();
    throw std::runtime_error(path + " has no symbol " + symbol + (why ? std::string(": ") + why : std::string()));
  }
  return found;
}

// A companion's versioned table of functions: `symbol` is a `const Table* ()` function, and the table's
// `version` member must equal Table::kVersion (a plugin and a companion from different builds are refused).
// Loaded once per process; a failed load throws std::runtime_error prefixed with `plugin` and is tried again
// at the next call. Hidden, so that two plugins never share the cached table even if both name a type alike.
template <typename Table>
__attribute__((visibility("hidden"))) const Table& companion_table(const void* anchor, const std::string& file,
                                                                   const char* symbol, const std::string& plugin) {
  static const Table* const table = [&] {
    using Entry = const Table* (*)();
    const Table* loaded = nullptr;
    try {
      loaded = reinterpret_cast<Entry>(load_companion_symbol(anchor, file, symbol))();
    } catch (const std::exception& e) {
      throw std::runtime_error(plugin + ": CUDA kernels unavailable: " + e.what());
    }
    if (loaded == nullptr || loaded->version != Table::kVersion)
      throw std::runtime_error(plugin + ": " + file + " is version " + std::to_string(loaded ? loaded->version : 0) +
                               ", the plugin needs " + std::to_string(Table::kVersion) +
                               " (install both from one build)");
    return loaded;
  }();
  return *table;
}

}  // namespace oft::sdk
