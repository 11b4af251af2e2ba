#pragma once
// OFT_CORE_API marks what liboft_core exports to host applications: the classes and free functions
// of core/include. The library is built with hidden symbols (-fvisibility=hidden and
// -fvisibility-inlines-hidden), so everything else (helpers in core/src, the template instances of
// LibTorch, nlohmann/json and Boost it uses) stays private to it: a smaller dynamic symbol table,
// faster loading, and no clashes with a host's own copies. Exception and polymorphic classes must be
// exported so that catch and dynamic_cast work across the library boundary.
#define OFT_CORE_API __attribute__((visibility("default")))
