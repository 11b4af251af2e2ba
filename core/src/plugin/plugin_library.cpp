#include "plugin/plugin_library.h"

#include <array>
#include <cstring>
#include <fstream>

#include <dlfcn.h>
#include <elf.h>

#include <boost/dll/shared_library.hpp>

#include "oft/sdk/plugin.h"
#include "plugin/plugin_descriptor_check.h"

namespace oft::plugin {
namespace {

// Reads the ELF header so that a stray file is rejected by name before dlopen runs any of its code.
void require_elf_shared_object(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Rejection("cannot open the file for reading");
  Elf64_Ehdr header{};
  in.read(reinterpret_cast<char*>(&header), sizeof header);
  if (in.gcount() < static_cast<std::streamsize>(EI_NIDENT) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    throw Rejection("not a shared library (no ELF header)");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || in.gcount() < static_cast<std::streamsize>(sizeof header) ||
      header.e_type != ET_DYN)
    throw Rejection("not a shared library (an ELF file, but not a 64-bit shared object)");
}

// A plugin of another ABI major exports oft_plugin_descriptor_v<major>; naming it beats "not found".
std::string other_abi_entry(const boost::dll::shared_library& library) {
  for (int major = 0; major < 100; ++major) {
    if (major == OFT_PLUGIN_ABI_MAJOR) continue;
    const std::string symbol = OFT_PLUGIN_ENTRY_PREFIX + std::to_string(major);
    if (library.has(symbol)) return symbol;
  }
  return "";
}

// The host side of OftRegistrar: collects what the plugin adds; the host checks and registers them
// only after the whole registration succeeded.
class CollectingRegistrar final : public sdk::Registrar {
 public:
  explicit CollectingRegistrar(std::string config_json) : config_json_(std::move(config_json)) {}
  void add(std::shared_ptr<sdk::Dispatcher> dispatcher) override {
    if (!dispatcher) throw std::invalid_argument("Registrar::add was given a null dispatcher");
    dispatchers.push_back(std::move(dispatcher));
  }
  void add_format(std::shared_ptr<sdk::LinearFormat> format) override {
    if (!format) throw std::invalid_argument("Registrar::add_format was given a null format");
    formats.push_back(std::move(format));
  }
  std::string config_json() const override { return config_json_; }
  std::vector<std::shared_ptr<sdk::Dispatcher>> dispatchers;
  std::vector<std::shared_ptr<sdk::LinearFormat>> formats;

 private:
  std::string config_json_;
};

// Keeps a registered plugin mapped for the life of the process (the rule and why: plugin_host.h),
// so nothing the host holds needs to keep its library alive.
void pin(const std::filesystem::path& file) {
  if (!dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) {
    const char* detail = dlerror();
    throw Rejection("cannot be kept loaded: " + std::string(detail ? detail : "dlopen(RTLD_NODELETE) failed"));
  }
}

}  // namespace

OpenedPlugin open_plugin(const std::filesystem::path& file, const std::string& expected_name,
                         const std::string& config_json) {
  require_elf_shared_object(file);
  // Unloaded when this returns unless pin() ran; the registrar below is declared later, so what a
  // failed registration left in it is destroyed while the library's code is still mapped.
  boost::dll::shared_library library;
  boost::dll::fs::error_code ec;
  library.load(file.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) {
    const char* detail = dlerror();  // Boost keeps only the errno text; dlerror says which symbol is missing
    throw Rejection("cannot be loaded: " + std::string(detail ? detail : ec.message()));
  }
  if (!library.has(OFT_PLUGIN_ENTRY_SYMBOL)) {
    const std::string other = other_abi_entry(library);
    if (!other.empty())
      throw Rejection("exports " + other + " but not " + OFT_PLUGIN_ENTRY_SYMBOL + ": built for plugin ABI major " +
                      other.substr(std::string(OFT_PLUGIN_ENTRY_PREFIX).size()) + "; this host speaks ABI major " +
                      std::to_string(OFT_PLUGIN_ABI_MAJOR));
    throw Rejection(std::string("no entry symbol ") + OFT_PLUGIN_ENTRY_SYMBOL +
                    " (a plugin defines it with OFT_PLUGIN from oft/sdk/plugin.h)");
  }
  const auto entry = library.get<const OftPluginDescriptor*()>(OFT_PLUGIN_ENTRY_SYMBOL);
  const OftPluginDescriptor* descriptor = entry();
  if (descriptor == nullptr) throw Rejection(std::string(OFT_PLUGIN_ENTRY_SYMBOL) + " returned a null descriptor");
  if (const std::string problem = descriptor_problem(*descriptor, expected_name); !problem.empty()) {
    const bool has_version = descriptor->struct_size >= sizeof(OftPluginDescriptor) && descriptor->version;
    throw Rejection(has_version ? problem + " [plugin version " + descriptor->version + "]" : problem);
  }
  CollectingRegistrar registrar(config_json);
  std::array<char, 1024> error{};
  const OftPluginStatus status = descriptor->register_dispatchers(
      reinterpret_cast<OftRegistrar*>(static_cast<sdk::Registrar*>(&registrar)), error.data(), error.size());
  error.back() = '\0';
  if (status != OFT_PLUGIN_OK)
    throw Rejection("registration failed: " + std::string(error[0] ? error.data() : "(the plugin gave no reason)"));
  pin(file);
  return {descriptor->name, descriptor->version, std::move(registrar.dispatchers), std::move(registrar.formats)};
}

}  // namespace oft::plugin
