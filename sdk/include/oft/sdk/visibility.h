#pragma once
// OFT_SDK_VISIBLE marks every polymorphic SDK class (the C++ interfaces that cross the plugin
// boundary). Plugins are built with hidden symbols (oft_add_plugin) and so may be liboft_core; without
// the mark each library would keep its own local copy of these classes' typeinfo and vtables, and the
// host's dynamic_cast on a plugin's object would work only because libstdc++ falls back to comparing
// type names. With it, the typeinfo is a default-visibility (weak) symbol in every library that emits
// it, the dynamic linker binds them all to one copy, and the types are the same type on both sides, as
// Boost's BOOST_SYMBOL_VISIBLE and c10's C10_EXPORT do for theirs. See plugin_abi.h for the ABI rules.
#define OFT_SDK_VISIBLE __attribute__((visibility("default")))
