/* The plain-C handshake between the oft host and a backend plugin (liboft_backend_<name>.so).
 *
 * A plugin exports one C function, OFT_PLUGIN_ENTRY (its name carries the ABI major, so a plugin
 * built for another major is not even found under this name). It returns a pointer to a static
 * descriptor. The host checks every field below before it calls anything C++ in the plugin: the
 * struct size, the ABI version, the LibTorch version and C++ ABI the plugin was built with, and that
 * the name matches the file. Only then does it call register_dispatchers.
 *
 * Plain C on purpose: a badly built plugin can still be inspected and rejected with a clear message.
 * Plugins normally use OFT_PLUGIN (oft/sdk/plugin.h) instead of filling this in by hand. */
#ifndef OFT_SDK_PLUGIN_ABI_H
#define OFT_SDK_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

/* The ABI is this descriptor plus the SDK's C++ interfaces (the headers in oft/sdk/: LinearBase, LinearModule,
 * LinearFormat, Dispatcher, Registrar and the structs they pass), whose vtables and layouts cross the
 * boundary. Its rules:
 *  - Major: any change a plugin built for the previous version would misread: a virtual added to a
 *    class plugins implement (LinearBase, LinearModule, LinearFormat, Dispatcher); a virtual removed,
 *    reordered or given another signature; a struct or descriptor layout changed. Host and plugin
 *    majors must be equal.
 *  - Minor: additions older plugins cannot notice: descriptor fields appended, virtuals appended at the
 *    end of Registrar (the host implements it; older plugins never call them). A host accepts plugins
 *    with a minor up to its own.
 *  - Each version's layout is recorded in sdk/abi/abi-<major>.<minor>.txt. The test
 *    sdk_abi_matches_baseline fails when the headers no longer match the record of the version
 *    below; after an intended bump, scripts/update_sdk_abi_baseline.sh records the new version.
 *  - Every polymorphic SDK class the host and plugins share is declared OFT_SDK_VISIBLE
 *    (oft/sdk/visibility.h): both sides are built with hidden symbols, and the mark makes them share one
 *    typeinfo per class, so a dynamic_cast on a plugin's object does not rest on comparing type names.
 *  - No exception crosses the C entry point (OFT_PLUGIN turns them into error text).
 *
 * History:
 *   1.0  the descriptor, Registrar::add, Dispatcher and Claim, LinearBase.
 *   1.1  Registrar::add_format and config_json; LinearFormat and LinearModule (loaders, quantizers).
 *   2.0  LinearFormat::quantize_methods and model_merge_refusal (QuantizeMethod); Claim holds only a
 *        LinearBase; backend priorities left the SDK; SDK classes OFT_SDK_VISIBLE.
 *   2.1  InputScaleSearch (input_scale_search.h): an optional interface a LinearFormat may also
 *        implement; hosts find it by dynamic_cast, so older plugins simply lack it. */
#define OFT_PLUGIN_ABI_MAJOR 2 /* 2: LinearFormat::quantize_methods and model_merge_refusal */
#define OFT_PLUGIN_ABI_MINOR 1

#define OFT_PLUGIN_ENTRY_PASTE_(major) oft_plugin_descriptor_v##major
#define OFT_PLUGIN_ENTRY_NAME_(major) OFT_PLUGIN_ENTRY_PASTE_(major)
#define OFT_PLUGIN_STRINGIFY_(x) #x
#define OFT_PLUGIN_STRING_(x) OFT_PLUGIN_STRINGIFY_(x)
/* The entry function, e.g. oft_plugin_descriptor_v2, and its name as a string. */
#define OFT_PLUGIN_ENTRY OFT_PLUGIN_ENTRY_NAME_(OFT_PLUGIN_ABI_MAJOR)
#define OFT_PLUGIN_ENTRY_SYMBOL OFT_PLUGIN_STRING_(OFT_PLUGIN_ENTRY)
/* Prefix shared by the entry symbols of every ABI major (the host looks for other majors to explain
 * a rejection). */
#define OFT_PLUGIN_ENTRY_PREFIX "oft_plugin_descriptor_v"

#define OFT_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by register_dispatchers. */
typedef enum OftPluginStatus { OFT_PLUGIN_OK = 0, OFT_PLUGIN_FAILED = 1 } OftPluginStatus;

/* Opaque to C: the host's oft::sdk::Registrar (oft/sdk/plugin.h). */
typedef struct OftRegistrar OftRegistrar;

typedef struct OftPluginDescriptor {
  uint32_t struct_size;      /* sizeof(OftPluginDescriptor) as the plugin compiled it */
  uint16_t abi_major;        /* OFT_PLUGIN_ABI_MAJOR at the plugin's build */
  uint16_t abi_minor;        /* OFT_PLUGIN_ABI_MINOR at the plugin's build */
  const char* name;          /* [a-z0-9_]+, equal to <name> in liboft_backend_<name>.so */
  const char* version;       /* the plugin's own version, shown by `oft plugins` */
  const char* torch_version; /* TORCH_VERSION the plugin was compiled against, e.g. "2.15.0" */
  int32_t cxx11_abi;         /* _GLIBCXX_USE_CXX11_ABI the plugin was compiled with (0 or 1) */
  /* Adds the plugin's dispatchers to `registrar`. Must not throw or unwind: on failure it writes a
   * NUL-terminated reason into error[0 .. error_size) and returns OFT_PLUGIN_FAILED. */
  OftPluginStatus (*register_dispatchers)(OftRegistrar* registrar, char* error, size_t error_size);
} OftPluginDescriptor;

typedef const OftPluginDescriptor* (*OftPluginEntry)(void);
/* The entry point every plugin defines (OFT_PLUGIN in oft/sdk/plugin.h does it). */
OFT_PLUGIN_EXPORT const OftPluginDescriptor* OFT_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* OFT_SDK_PLUGIN_ABI_H */
