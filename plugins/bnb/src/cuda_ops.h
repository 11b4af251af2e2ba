#pragma once
// The bnb plugin's CUDA operations. They live in a companion library, liboft_bnb_cuda.so next to the plugin
// (cuda/), which links LibTorch's CUDA side and the CUDA runtime; the plugin loads it the first time a CUDA
// tensor reaches it, so start-up and CPU-only use never load CUDA. All tensors of one call are on one CUDA
// device; results are on that device, computed on its current stream.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace oft::bnb {

struct CudaOps {
  // Bumped when a signature below changes: the plugin refuses a companion of another version.
  static constexpr int kVersion = 3;
  int version;
  // dequantize_4bit / dequantize_absmax / dequantize_int8 of the CPU path, bit for bit (blockwise.h,
  // int8_math.h): dtype float32, float16 or bfloat16.
  at::Tensor (*dequantize_4bit)(const at::Tensor& packed, const at::Tensor& absmax, bool nf4, int64_t blocksize,
                                int64_t out_features, int64_t in_features, c10::ScalarType dtype);
  at::Tensor (*dequantize_absmax)(const at::Tensor& codes, const at::Tensor& nested_absmax, const at::Tensor& quant_map,
                                  float offset);
  at::Tensor (*dequantize_int8)(const at::Tensor& cb, const at::Tensor& scb, c10::ScalarType dtype);
  // x (tokens, in) . dequantize_4bit(W, x's dtype)^T + bias in x's dtype (float32/float16/bfloat16; bias too, as
  // the layer holds it in the compute dtype: no conversion per call), fp32 accumulation, without materializing W;
  // tokens in 1..kMaxGemvTokens. absmax: float32 values, or with
  // nested_absmax defined (double quantization) the 8-bit codes dequantize_absmax takes, decoded in the kernel.
  at::Tensor (*gemv_4bit)(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& absmax,
                          const at::Tensor& nested_absmax, const at::Tensor& quant_map, float offset, bool nf4,
                          int64_t blocksize, int64_t out_features, const at::Tensor& bias);
};

inline constexpr int64_t kMaxGemvTokens = 16;

// The companion's operations, loaded once. Throws std::runtime_error when this plugin was built without CUDA
// or the companion cannot be loaded (naming the file and the loader's reason).
const CudaOps& cuda_ops();

// Throws std::invalid_argument unless `t` is on the CPU or a CUDA device (`what` names the operation).
void check_device_supported(const at::Tensor& t, const char* what);

}  // namespace oft::bnb

// The companion's one exported symbol.
extern "C" const oft::bnb::CudaOps* oft_bnb_cuda_ops();
