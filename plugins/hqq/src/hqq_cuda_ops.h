#pragma once
// The hqq plugin's CUDA operations. They live in a companion library, liboft_hqq_cuda.so next to the plugin (cuda/),
// which links LibTorch's CUDA side and the CUDA runtime; the plugin loads it the first time a CUDA tensor reaches
// it, so start-up and CPU-only use never load CUDA.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::hqq {

struct CudaOps {
  // Bumped when a signature or what a function promises below changes: the plugin refuses a companion of another
  // version.
  static constexpr int kVersion = 1;
  int version;
  // hqq's (codes - zero) * scale in one kernel: the (rows, cols) code matrix's values (W (out, in) is its view), each
  // step in fp32 and rounded, code - zero to `difference`, times scale to `product` (float32, float16 or bfloat16:
  // step_dtypes in hqq_dequant_cpu.h), so equal bit for bit to the CPU path and the operators path
  // (hqq_dequant_operators.h). packed: the codes of `bits` bits (1, 2, 4 or 8: uint8 (rows / (8 / bits), cols); 3:
  // int32 (ceil(rows / 10), cols), the padding rows not read), as hqq_packing.h packs them, in its integer dtype (not
  // viewed as float). zero and scale of one shape: (rows, 1) (one per code row, axis 1), (1, cols) (one per code
  // column, axis 0) or () (one for all); zero is converted to `difference` and scale to `product` (exact where
  // these are their promotions, as step_dtypes gives them). Returns (rows, cols) of `product`. All on one CUDA
  // device; no device-to-host synchronization; a tensor of the wrong dtype, device or shape is a
  // std::invalid_argument naming it and what was expected.
  at::Tensor (*dequantize)(const at::Tensor& packed, const at::Tensor& zero, const at::Tensor& scale, int bits,
                           int64_t rows, int64_t cols, c10::ScalarType difference, c10::ScalarType product);
};

// Whether this plugin was built with its companion (nvcc was present). When not, HqqLinear dequantizes CUDA tensors
// with LibTorch operators (hqq_dequant_operators.h) instead, the same values.
bool cuda_ops_built();

// The companion's operations, loaded once. Throws std::runtime_error when this plugin was built without CUDA or the
// companion cannot be loaded (naming the file and the loader's reason).
const CudaOps& cuda_ops();

}  // namespace oft::hqq

// The companion's one exported symbol.
extern "C" const oft::hqq::CudaOps* oft_hqq_cuda_ops();
