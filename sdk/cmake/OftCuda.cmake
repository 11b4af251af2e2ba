# CUDA for oft and its plugins, after OftTorchCpu.cmake (LibTorch found). Nothing here is linked by
# liboft_core or a CPU plugin: CUDA code goes into separate libraries (oft_add_cuda_module) that are
# loaded only when a CUDA device is used, so CPU-only start-up and machines stay as they are.
#
#   OFT_CUDA               AUTO (default: on when nvcc is found and LibTorch has torch_cuda/c10_cuda),
#                          ON (the same, but fail when either is missing) or OFF.
#   OFT_CUDA_ARCHITECTURES GPU architectures of oft's kernels, default "80;90" (A100, H100/H200).
# Gives OFT_CUDA_ENABLED and, when it is on:
#   oft_c10_cuda    c10_cuda + the CUDA runtime (+ torch_cpu/c10): enough for a kernel library taking
#                   at::Tensor and launching on the current stream
#   oft_torch_cuda  oft_c10_cuda + torch_cuda (LibTorch's CUDA operators)
#   oft_add_cuda_module(TARGET <t> OUTPUT_NAME <n> SOURCES <.cu/.cpp...> [LINK <targets...>])
set(OFT_CUDA AUTO CACHE STRING "Build oft's CUDA libraries: AUTO (when nvcc and a CUDA LibTorch are found), ON or OFF")
set_property(CACHE OFT_CUDA PROPERTY STRINGS AUTO ON OFF)
set(OFT_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of oft's kernels (CMake CUDA_ARCHITECTURES syntax)")
string(TOUPPER "${OFT_CUDA}" _oft_cuda_mode)
if(NOT _oft_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "OFT_CUDA is '${OFT_CUDA}': expected AUTO, ON or OFF")
endif()

set(OFT_CUDA_ENABLED OFF)
set(_oft_cuda_missing "")
if(_oft_cuda_mode STREQUAL "OFF")
  message(STATUS "oft: CUDA off (OFT_CUDA=OFF)")
else()
  include(CheckLanguage)
  # LibTorch's CUDA config may have enabled CUDA already (it does when it finds nvcc).
  get_property(_oft_langs GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "CUDA" IN_LIST _oft_langs)
    check_language(CUDA)
  endif()
  if(NOT CMAKE_CUDA_COMPILER)
    set(_oft_cuda_missing "no CUDA compiler (nvcc) was found: put it on PATH or set CMAKE_CUDA_COMPILER")
  elseif(NOT TARGET torch_cuda OR NOT TARGET c10_cuda)
    set(_oft_cuda_missing "LibTorch ${Torch_VERSION} (${TORCH_INSTALL_PREFIX}) has no torch_cuda/c10_cuda: it is a CPU-only build")
  endif()
  if(_oft_cuda_missing STREQUAL "")
    set(OFT_CUDA_ENABLED ON)
  elseif(_oft_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "OFT_CUDA=ON but ${_oft_cuda_missing}")
  else()
    message(STATUS "oft: CUDA off (${_oft_cuda_missing})")
  endif()
endif()

if(OFT_CUDA_ENABLED)
  if(NOT "CUDA" IN_LIST _oft_langs)
    enable_language(CUDA)
  endif()
  find_package(CUDAToolkit REQUIRED)
  # The CUDA runtime LibTorch itself loads (the wheel's nvidia/cu<major>/lib, cuda_runtime/lib for
  # older wheels), so that one copy of libcudart is in the process; else the toolkit's.
  get_filename_component(_oft_wheel_root "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
  find_library(OFT_CUDA_RUNTIME_LIBRARY NAMES libcudart.so.${CUDAToolkit_VERSION_MAJOR}
               PATHS ${_oft_wheel_root}/nvidia/cu${CUDAToolkit_VERSION_MAJOR}/lib ${_oft_wheel_root}/nvidia/cuda_runtime/lib
               NO_DEFAULT_PATH)
  if(NOT OFT_CUDA_RUNTIME_LIBRARY)
    set(OFT_CUDA_RUNTIME_LIBRARY ${CUDAToolkit_LIBRARY_DIR}/libcudart.so)
  endif()
  get_filename_component(OFT_CUDA_RUNTIME_DIR "${OFT_CUDA_RUNTIME_LIBRARY}" DIRECTORY)
  # LibTorch's CUDA config appends -gencode flags for TORCH_CUDA_ARCH_LIST to CMAKE_CUDA_FLAGS; oft's
  # targets take OFT_CUDA_ARCHITECTURES alone.
  string(REGEX REPLACE " -gencode arch=[^ ]+" "" CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
  message(STATUS "oft: CUDA on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${OFT_CUDA_ARCHITECTURES}, "
                 "runtime ${OFT_CUDA_RUNTIME_LIBRARY})")

  # By path, not through LibTorch's imported targets: their CUDA interface (cuDNN, nvrtc, nvToolsExt...)
  # is more than a kernel library needs and breaks on toolkits that lack a piece.
  if(NOT TARGET oft_c10_cuda)
    add_library(oft_c10_cuda INTERFACE)
    target_link_libraries(oft_c10_cuda INTERFACE oft_torch_cpu $<TARGET_FILE:c10_cuda> ${OFT_CUDA_RUNTIME_LIBRARY})
    foreach(_dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
      target_compile_options(oft_c10_cuda INTERFACE "SHELL:-idirafter ${_dir}")
    endforeach()
    add_library(oft_torch_cuda INTERFACE)
    # Kept as a dependency even when nothing names its symbols (--as-needed would drop it): loading it is
    # what registers LibTorch's CUDA operators, allocator and hooks.
    target_link_libraries(oft_torch_cuda INTERFACE oft_c10_cuda -Wl,--push-state,--no-as-needed
                                                   $<TARGET_FILE:torch_cuda> -Wl,--pop-state)
  endif()
endif()

# A shared library of CUDA code: hidden symbols, every symbol resolved at link time (-z defs), oft's
# architectures, no precompiled header. The .cu files compile apart (target <t>_device_code) without
# LibTorch's headers or flags: nvcc on the ATen headers is very slow, so kernels take raw pointers,
# sizes and a cudaStream_t, and .cpp wrappers (g++) take at::Tensor, check it and launch. The directory's
# C++ options (warnings, sanitizers) apply to the .cpp files only; nvcc gets its own.
# INCLUDE_DIRECTORIES apply to the .cu and the .cpp files alike; the .cu files also see the SDK's headers.
function(oft_add_cuda_module)
  cmake_parse_arguments(arg "" "TARGET;OUTPUT_NAME" "SOURCES;LINK;INCLUDE_DIRECTORIES" ${ARGN})
  if(NOT OFT_CUDA_ENABLED)
    message(FATAL_ERROR "oft_add_cuda_module(TARGET ${arg_TARGET}): CUDA is off (check OFT_CUDA_ENABLED first)")
  endif()
  if(NOT arg_TARGET OR NOT arg_OUTPUT_NAME OR NOT arg_SOURCES)
    message(FATAL_ERROR "oft_add_cuda_module: TARGET, OUTPUT_NAME and SOURCES are required")
  endif()
  set(_cu ${arg_SOURCES})
  list(FILTER _cu INCLUDE REGEX "\\.cu$")
  set(_cpp ${arg_SOURCES})
  list(FILTER _cpp EXCLUDE REGEX "\\.cu$")
  add_library(${arg_TARGET} SHARED ${_cpp})
  if(_cu)
    add_library(${arg_TARGET}_device_code OBJECT ${_cu})
    set_property(TARGET ${arg_TARGET}_device_code PROPERTY COMPILE_OPTIONS "")
    set_target_properties(${arg_TARGET}_device_code PROPERTIES
      CUDA_ARCHITECTURES "${OFT_CUDA_ARCHITECTURES}"
      CUDA_STANDARD 17
      CUDA_RUNTIME_LIBRARY Shared
      POSITION_INDEPENDENT_CODE ON
      CUDA_VISIBILITY_PRESET hidden)
    if(CMAKE_CXX_COMPILER_LAUNCHER)
      set_target_properties(${arg_TARGET}_device_code PROPERTIES CUDA_COMPILER_LAUNCHER "${CMAKE_CXX_COMPILER_LAUNCHER}")
    endif()
    # The SDK's headers (device-code helpers under oft/sdk/cuda/), in-tree or installed.
    target_include_directories(${arg_TARGET}_device_code PRIVATE ${arg_INCLUDE_DIRECTORIES}
                               $<TARGET_PROPERTY:oft::sdk,INTERFACE_INCLUDE_DIRECTORIES>)
    target_sources(${arg_TARGET} PRIVATE $<TARGET_OBJECTS:${arg_TARGET}_device_code>)
  endif()
  target_include_directories(${arg_TARGET} PRIVATE ${arg_INCLUDE_DIRECTORIES})
  target_link_libraries(${arg_TARGET} PRIVATE oft_c10_cuda ${arg_LINK})
  # Installed, it finds the CUDA runtime it was built against (the wheel's, as LibTorch does).
  set_property(TARGET ${arg_TARGET} APPEND PROPERTY INSTALL_RPATH "${OFT_CUDA_RUNTIME_DIR}")
  set_target_properties(${arg_TARGET} PROPERTIES
    OUTPUT_NAME ${arg_OUTPUT_NAME}
    LINKER_LANGUAGE CXX
    CUDA_RUNTIME_LIBRARY None  # oft_c10_cuda links the CUDA runtime LibTorch loads
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    DISABLE_PRECOMPILE_HEADERS ON)
  target_link_options(${arg_TARGET} PRIVATE LINKER:-z,defs)
endfunction()

# oft_add_plugin_cuda_companion(PLUGIN <name> LOADER <source> SOURCES <...> [INCLUDE_DIRECTORIES <...>] [LINK <...>])
# A plugin's CUDA side: liboft_<name>_cuda.so (oft_add_cuda_module) beside liboft_backend_<name>.so, a name plugin
# discovery skips, built and installed with the plugin. The plugin loads it at its first CUDA tensor
# (oft/sdk/companion_library.h), so CPU-only use never loads CUDA; LOADER, the plugin's source that does so, gets
# OFT_<NAME>_CUDA_LIBRARY="liboft_<name>_cuda.so". Call it from the plugin's folder, after oft_add_plugin(NAME <name>).
function(oft_add_plugin_cuda_companion)
  cmake_parse_arguments(arg "" "PLUGIN;LOADER" "SOURCES;INCLUDE_DIRECTORIES;LINK" ${ARGN})
  if(NOT TARGET oft_backend_${arg_PLUGIN} OR NOT arg_LOADER)
    message(FATAL_ERROR "oft_add_plugin_cuda_companion: PLUGIN must name a plugin of oft_add_plugin and LOADER its "
                        "source that loads the companion")
  endif()
  set(target oft_${arg_PLUGIN}_cuda)
  oft_add_cuda_module(TARGET ${target} OUTPUT_NAME ${target} SOURCES ${arg_SOURCES}
                      INCLUDE_DIRECTORIES ${arg_INCLUDE_DIRECTORIES} LINK ${arg_LINK})
  string(TOUPPER ${arg_PLUGIN} name)
  set_property(SOURCE ${arg_LOADER} APPEND PROPERTY COMPILE_DEFINITIONS "OFT_${name}_CUDA_LIBRARY=\"lib${target}.so\"")
  add_dependencies(oft_backend_${arg_PLUGIN} ${target})
  if(OFT_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${OFT_PLUGIN_INSTALL_DIR} COMPONENT runtime)
  endif()
endfunction()
