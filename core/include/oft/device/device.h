#pragma once
// Devices and dtypes as users name them (--device, --dtype, host and train configs), and making a
// device usable in this process. liboft_core links only LibTorch's CPU library: CUDA support
// (LibTorch's CUDA backend and oft's kernels) lives in liboft_cuda, loaded on first use.
#include <filesystem>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "oft/export.h"

namespace oft {

// "cpu", "cuda" or "cuda:N". `what` names the option or key in the error message.
OFT_CORE_API c10::Device parse_device(const std::string& text, const std::string& what = "--device");
// "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16".
OFT_CORE_API c10::ScalarType parse_dtype(const std::string& text, const std::string& what = "--dtype");
// Short name for messages and files: "fp32", "bf16", "fp16" (others: c10's name).
OFT_CORE_API std::string dtype_name(c10::ScalarType dtype);

// Makes `device` usable: the CPU always is; CUDA loads liboft_cuda once (from liboft_core's folder)
// and checks that device index exists. Throws UsageError saying what is missing (no liboft_cuda in
// this build, no CUDA device visible, index out of range).
OFT_CORE_API void prepare_device(const c10::Device& device);

// The folder liboft_core was loaded from, where its companion libraries (liboft_cuda, liboft_nccl) are
// installed; empty if the dynamic loader cannot tell.
OFT_CORE_API std::filesystem::path core_library_folder();

}  // namespace oft
