# Finds LibTorch (the caller passes Torch_DIR, e.g. the pinned torch wheel's share/cmake/Torch) and
# defines `oft_torch_cpu`: torch_cpu + c10 only, headers via -idirafter. Used by the oft build and
# installed with the SDK, so plugins see LibTorch exactly as the host does.

# The wheel is CUDA-enabled: name the GPU architectures so its config does not try to compile and run
# a GPU probe (there is no GPU here, in CI, or on many users' machines).
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

# The host and CPU plugins link only torch_cpu and c10: nothing loads libtorch_cuda (and its CUDA
# runtime) unless a CUDA-built component asks for it. That keeps start-up fast and CPU-only
# machines working.
# LibTorch's include root also carries a bundled fmt (12.x) that would shadow Debian's fmt, which
# Debian's spdlog is built against; -idirafter puts the torch headers after /usr/include (and
# marks them as system headers). The torch headers we include do not use fmt.
if(NOT TARGET oft_torch_cpu)
  add_library(oft_torch_cpu INTERFACE)
  target_link_libraries(oft_torch_cpu INTERFACE $<TARGET_FILE:torch_cpu> $<TARGET_FILE:c10>)
  get_target_property(_oft_torch_defs torch_cpu INTERFACE_COMPILE_DEFINITIONS)
  if(_oft_torch_defs)
    target_compile_definitions(oft_torch_cpu INTERFACE ${_oft_torch_defs})
  endif()
  foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
    target_compile_options(oft_torch_cpu INTERFACE "SHELL:-idirafter ${_dir}")
  endforeach()
  target_compile_features(oft_torch_cpu INTERFACE cxx_std_20)
  # ATen's at::parallel_for is a header template: it runs in parallel only in code compiled with OpenMP, and
  # serially otherwise. LibTorch runs its own kernels on the libgomp it ships, so our loops compile with
  # -fopenmp and link that same libgomp: one OpenMP runtime and one thread pool in the process, sized by
  # at::set_num_threads / OMP_NUM_THREADS as LibTorch's is. GCC only (clang's OpenMP calls another runtime);
  # elsewhere, or with a LibTorch that brings no libgomp, they stay serial.
  set(_oft_torch_libgomp "${TORCH_INSTALL_PREFIX}/lib/libgomp.so.1")
  if(EXISTS "${_oft_torch_libgomp}" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(oft_torch_cpu INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fopenmp>)
    target_link_libraries(oft_torch_cpu INTERFACE "${_oft_torch_libgomp}")
  else()
    message(STATUS "No OpenMP for our parallel loops (not GCC, or no libgomp in LibTorch): they run on one thread")
  endif()
endif()
set(OFT_TORCH_VERSION ${Torch_VERSION})
