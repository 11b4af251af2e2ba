// liboft_bnb_cuda.so's entry point: checks the tensors, allocates results and launches bnb_kernels.cu on the
// current stream of the tensors' device.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "bnb_kernels.h"
#include "cuda_ops.h"
#include "dequant_math.h"

namespace oft::bnb {
namespace {

cuda::Dtype kernel_dtype(c10::ScalarType dtype, const char* what) {
  switch (dtype) {
    case at::kFloat: return cuda::Dtype::Float32;
    case at::kHalf: return cuda::Dtype::Float16;
    case at::kBFloat16: return cuda::Dtype::BFloat16;
    default:
      throw std::invalid_argument(std::string(what) + ": dtype must be float32, float16 or bfloat16, got " +
                                  c10::toString(dtype));
  }
}

// The kernels read these as flat arrays of `dtype` with at least `numel` elements, on `device`.
at::Tensor flat(const at::Tensor& t, c10::ScalarType dtype, int64_t numel, const c10::Device& device, const char* name,
                const char* what) {
  if (!t.defined() || t.device() != device || t.numel() < numel)
    throw std::invalid_argument(std::string(what) + ": " + name + " must be on " + device.str() + " with " +
                                std::to_string(numel) + " elements");
  return t.to(dtype).contiguous();
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": CUDA kernel launch failed: " + cudaGetErrorString(status));
}

cudaStream_t stream_of(const c10::Device& device) { return c10::cuda::getCurrentCUDAStream(device.index()).stream(); }

at::Tensor dequantize_4bit(const at::Tensor& packed, const at::Tensor& absmax, bool nf4, int64_t blocksize,
                           int64_t out_features, int64_t in_features, c10::ScalarType dtype) {
  constexpr const char* what = "bitsandbytes 4-bit dequantization (CUDA)";
  const c10::cuda::CUDAGuard guard(packed.device());
  const int64_t n = out_features * in_features;
  const at::Tensor bytes = flat(packed, at::kByte, (n + 1) / 2, packed.device(), "weight", what);
  const at::Tensor scales = flat(absmax, at::kFloat, (n + blocksize - 1) / blocksize, packed.device(), "absmax", what);
  at::Tensor out = at::empty({out_features, in_features}, packed.options().dtype(dtype));
  check(cuda::dequantize_4bit(bytes.data_ptr<uint8_t>(), scales.data_ptr<float>(), nf4, blocksize, n,
                              kernel_dtype(dtype, what), out.data_ptr(), stream_of(packed.device())),
        what);
  return out;
}

at::Tensor dequantize_absmax(const at::Tensor& codes, const at::Tensor& nested_absmax, const at::Tensor& quant_map,
                             float offset) {
  constexpr const char* what = "bitsandbytes nested absmax (CUDA)";
  const c10::cuda::CUDAGuard guard(codes.device());
  const int64_t n = codes.numel();
  const at::Tensor c = flat(codes, at::kByte, n, codes.device(), "absmax codes", what);
  const at::Tensor scales = flat(nested_absmax, at::kFloat, (n + math::kNestedBlocksize - 1) / math::kNestedBlocksize,
                                 codes.device(), "nested_absmax", what);
  const at::Tensor map = flat(quant_map, at::kFloat, 256, codes.device(), "nested_quant_map", what);
  at::Tensor out = at::empty({n}, codes.options().dtype(at::kFloat));
  check(cuda::dequantize_nested_absmax(c.data_ptr<uint8_t>(), map.data_ptr<float>(), scales.data_ptr<float>(), offset,
                                       n, out.data_ptr<float>(), stream_of(codes.device())),
        what);
  return out;
}

at::Tensor dequantize_int8(const at::Tensor& cb, const at::Tensor& scb, c10::ScalarType dtype) {
  constexpr const char* what = "bitsandbytes 8-bit dequantization (CUDA)";
  if (cb.dim() != 2 || cb.scalar_type() != at::kChar)
    throw std::invalid_argument(std::string(what) + ": CB must be 2-D int8");
  const c10::cuda::CUDAGuard guard(cb.device());
  const int64_t rows = cb.size(0), cols = cb.size(1);
  const at::Tensor codes = cb.contiguous();
  const at::Tensor stats = flat(scb, at::kFloat, rows, cb.device(), "SCB", what);
  at::Tensor out = at::empty({rows, cols}, cb.options().dtype(dtype));
  check(cuda::dequantize_int8(codes.data_ptr<int8_t>(), stats.data_ptr<float>(), rows, cols, kernel_dtype(dtype, what),
                              out.data_ptr(), stream_of(cb.device())),
        what);
  return out;
}

at::Tensor gemv_4bit(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& absmax,
                     const at::Tensor& nested_absmax, const at::Tensor& quant_map, float offset, bool nf4,
                     int64_t blocksize, int64_t out_features, const at::Tensor& bias) {
  constexpr const char* what = "bitsandbytes 4-bit GEMV (CUDA)";
  if (x.dim() != 2 || x.size(0) < 1 || x.size(0) > kMaxGemvTokens)
    throw std::invalid_argument(std::string(what) + ": x must be (tokens, in) with 1 to " +
                                std::to_string(kMaxGemvTokens) + " tokens");
  const c10::cuda::CUDAGuard guard(packed.device());
  const int64_t tokens = x.size(0), in = x.size(1), n = out_features * in;
  const at::Tensor input = flat(x, x.scalar_type(), tokens * in, packed.device(), "x", what);
  const at::Tensor bytes = flat(packed, at::kByte, (n + 1) / 2, packed.device(), "weight", what);
  const int64_t blocks = (n + blocksize - 1) / blocksize;
  cuda::BlockScales scales;
  at::Tensor absmax_values, codes, nested, map;  // alive until the launch
  if (nested_absmax.defined()) {
    codes = flat(absmax, at::kByte, blocks, packed.device(), "absmax codes", what);
    nested = flat(nested_absmax, at::kFloat, (blocks + math::kNestedBlocksize - 1) / math::kNestedBlocksize,
                  packed.device(), "nested_absmax", what);
    map = flat(quant_map, at::kFloat, 256, packed.device(), "nested_quant_map", what);
    scales = {nullptr, codes.data_ptr<uint8_t>(), map.data_ptr<float>(), nested.data_ptr<float>(), offset};
  } else {
    absmax_values = flat(absmax, at::kFloat, blocks, packed.device(), "absmax", what);
    scales.absmax = absmax_values.data_ptr<float>();
  }
  const at::Tensor b = bias.defined() ? flat(bias, x.scalar_type(), out_features, packed.device(), "bias", what) : bias;
  at::Tensor y = at::empty({tokens, out_features}, x.options());
  // The 16-byte path gives 32 codes one absmax: block sizes must be whole multiples of 32 (the options allow 32..4096).
  const bool vectorized = in % 32 == 0 && blocksize % 32 == 0 &&
                          reinterpret_cast<std::uintptr_t>(bytes.data_ptr()) % 16 == 0 &&
                          reinterpret_cast<std::uintptr_t>(input.data_ptr()) % 16 == 0;
  check(cuda::gemv_4bit(input.data_ptr(), tokens, in, out_features, bytes.data_ptr<uint8_t>(), scales, nf4, blocksize,
                        b.defined() ? b.data_ptr() : nullptr, vectorized, kernel_dtype(x.scalar_type(), what),
                        y.data_ptr(), stream_of(packed.device())),
        what);
  return y;
}

}  // namespace
}  // namespace oft::bnb

extern "C" __attribute__((visibility("default"))) const oft::bnb::CudaOps* oft_bnb_cuda_ops() {
  static const oft::bnb::CudaOps ops{oft::bnb::CudaOps::kVersion, &oft::bnb::dequantize_4bit,
                                     &oft::bnb::dequantize_absmax, &oft::bnb::dequantize_int8, &oft::bnb::gemv_4bit};
  return &ops;
}
