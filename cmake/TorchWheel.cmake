# LibTorch from the pinned PyPI torch wheel (requirements/torch.txt), found through the wheel's own
# CMake config. scripts/setup.sh passes Torch_DIR; otherwise we ask the project's .venv.
if(NOT Torch_DIR)
  find_program(OFT_VENV_PYTHON python PATHS ${CMAKE_SOURCE_DIR}/.venv/bin NO_DEFAULT_PATH)
  if(OFT_VENV_PYTHON)
    execute_process(COMMAND ${OFT_VENV_PYTHON} -c "import torch; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _oft_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(Torch_DIR "${_oft_torch_prefix}/Torch")
  endif()
endif()
# The rest (find_package(Torch), the oft_torch_cpu target) is shared with the installed SDK, so
# out-of-tree plugins see LibTorch exactly as the host does.
include(${CMAKE_SOURCE_DIR}/sdk/cmake/OftTorchCpu.cmake)
# CUDA (OFT_CUDA, OFT_CUDA_ENABLED, oft_c10_cuda, oft_add_cuda_module): also shared with the SDK.
include(${CMAKE_SOURCE_DIR}/sdk/cmake/OftCuda.cmake)
