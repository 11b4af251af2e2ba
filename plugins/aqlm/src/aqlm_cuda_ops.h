#pragma once
// The aqlm plugin's CUDA operations. They live in a companion library, liboft_aqlm_cuda.so next to the plugin
// (cuda/), which links LibTorch's CUDA side and the CUDA runtime; the plugin loads it the first time a CUDA tensor
// reaches it, so start-up and CPU-only use never load CUDA.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace oft::aqlm {

struct CudaOps {
  // Bumped when a signature or what a function promises below changes: the plugin refuses a companion of another
  // version.
  static constexpr int kVersion = 1;
  int version;
  // AQLM's dequantization in one kernel: W (N, K) in the codebooks' dtype, the same bits as the CPU path and the
  // operators path (aqlm_dequant_operators.h): the codewords summed in fp32 codebook by codebook from 0, rounded to
  // the codebooks' dtype as aqlm's CPU embedding_bag rounds (bf16 ties away from zero), times the scale in fp32,
  // rounded once more. codes [N/og, K/ig, C] int8 (nbits <= 8) or int16 as aqlm stores them; codebooks
  // [C, 2^nbits, og, ig] fp16, bf16 or fp32; scales N/og values of any float dtype (converted to fp32). All on one
  // CUDA device; no device-to-host synchronization; a tensor of the wrong dtype, device or shape is a
  // std::invalid_argument naming it and what was expected.
  at::Tensor (*dequantize)(const at::Tensor& codes, int64_t nbits, const at::Tensor& codebooks,
                           const at::Tensor& scales);
};

// Whether this plugin was built with its companion (nvcc was present). When not, AqlmLinear dequantizes CUDA tensors
// with LibTorch operators (aqlm_dequant_operators.h) instead, the same values.
bool cuda_ops_built();

// The companion's operations, loaded once. Throws std::runtime_error when this plugin was built without CUDA or the
// companion cannot be loaded (naming the file and the loader's reason).
const CudaOps& cuda_ops();

}  // namespace oft::aqlm

// The companion's one exported symbol.
extern "C" const oft::aqlm::CudaOps* oft_aqlm_cuda_ops();
