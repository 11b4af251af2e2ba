# Warnings for the project's own code: every target of this build (LibTorch, Boost, spdlog, GoogleTest
# and the other dependencies are system headers, so they stay quiet). -Wpedantic also changes the
# predefined macros, so it must apply to liboft_core and to every target that reuses its precompiled
# header alike (it does: these are directory-wide options).
add_compile_options(
  -Wall -Wextra -Wpedantic
  -Wshadow                  # a local or parameter hiding another name
  -Wnon-virtual-dtor        # a polymorphic class without a virtual destructor
  -Woverloaded-virtual      # a derived function hiding a base overload instead of overriding it
  -Wmissing-declarations    # a free function neither declared in a header nor file-local
  -Wcast-qual -Wformat=2
  # Structs with default member initializers are filled partly on purpose (ModelInfo{"llama"}).
  -Wno-missing-field-initializers)
# scripts/test.sh (and so CI) turns this on; CMake adds -Werror to every target.
set(CMAKE_COMPILE_WARNING_AS_ERROR ${OFT_WARNINGS_AS_ERRORS})
