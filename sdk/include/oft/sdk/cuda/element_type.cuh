#pragma once
// Kernel launchers (a plugin's .cu host code): the element type a kernel template is instantiated for, from the dtype
// enum the launcher takes (which the plugin's companion maps from c10::ScalarType). Header-only, torch-free.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace oft::sdk::cuda {

// launch(element) with a value of the element type `dtype` names: __half for Dtype::Float16, __nv_bfloat16 for
// Dtype::BFloat16, float otherwise. Dtype: the launcher's enum, with (at least) members Float16 and BFloat16.
template <typename Dtype, typename Launch>
auto with_element_type(Dtype dtype, Launch&& launch) {
  switch (dtype) {
    case Dtype::Float16: return launch(__half{});
    case Dtype::BFloat16: return launch(__nv_bfloat16{});
    default: return launch(float{});
  }
}

}  // namespace oft::sdk::cuda
