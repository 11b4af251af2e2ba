// Host launchers of the rotation kernels (rotation_kernels.cuh): each checks for empty work and launches
// on the given stream with the kernel's LaunchShape.
#include <cuda_runtime.h>

#include <type_traits>

#include "rotation_mma_kernels.cuh"

namespace oft::cuda {
namespace {

// Without an opt-in, a kernel may use this much dynamic shared memory.
constexpr size_t kDefaultSharedBytes = 48 * 1024;

template <class T, int kB>
cudaError_t rotate_mma(const void* x, const float* blocks, int64_t tokens, int features, bool shared_block,
                       bool transpose, const LaunchDevice& device, void* y, cudaStream_t stream) {
  const LaunchShape shape = rotate_mma_shape(tokens, features, kB, device.multiprocessors);
  rotate_mma_kernel<T, kB><<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(
      static_cast<const T*>(x), blocks, tokens, features, shared_block, transpose, static_cast<T*>(y));
  return cudaGetLastError();
}

// dR, and dx unless it is null (then blocks is not read).
template <class T, int kB>
cudaError_t rotate_backward_mma(const void* x, const void* dy, const float* blocks, int64_t tokens, int features,
                                bool shared_block, const LaunchDevice& device, float* grad_blocks, void* dx,
                                cudaStream_t stream) {
  const LaunchShape shape = rotate_backward_mma_shape(tokens, features, kB, dx != nullptr, device.multiprocessors);
  rotate_backward_mma_kernel<T, kB><<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(dy), blocks, tokens, features, shared_block, grad_blocks,
      static_cast<T*>(dx));
  return cudaGetLastError();
}

template <class T>
cudaError_t rotate_typed(const void* x, const float* blocks, int64_t tokens, int features, int b, bool shared_block,
                         bool transpose, const LaunchDevice& device, void* y, cudaStream_t stream) {
  if constexpr (!std::is_same_v<T, float>) {
    if (device.tensor_cores && mma_rotation_fits(sizeof(T), b, features, x, y))
      return b == 32 ? rotate_mma<T, 32>(x, blocks, tokens, features, shared_block, transpose, device, y, stream)
                     : rotate_mma<T, 64>(x, blocks, tokens, features, shared_block, transpose, device, y, stream);
  }
  const LaunchShape shape = rotate_shape(tokens, features, b);
  const bool vectorized = vector_access_fits(sizeof(T), b, features, x, y);
  rotate_kernel<T><<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(
      static_cast<const T*>(x), blocks, tokens, features, b, shared_block, transpose, tile_rows_for(b), vectorized,
      static_cast<T*>(y));
  return cudaGetLastError();
}

// dR, and dx = dy . blockdiag(R^T) unless dx is null: one pass over x and dy on the tensor cores, else the CUDA-core
// kernels one after the other.
template <class T>
cudaError_t rotate_backward_typed(const void* x, const void* dy, const float* blocks, int64_t tokens, int features,
                                  int b, bool shared_block, const LaunchDevice& device, void* dx, float* grad_blocks,
                                  cudaStream_t stream) {
  if constexpr (!std::is_same_v<T, float>) {
    if (device.tensor_cores && mma_rotation_fits(sizeof(T), b, features, x, dy) &&
        (dx == nullptr || mma_rotation_fits(sizeof(T), b, features, dx, dx)))
      return b == 32 ? rotate_backward_mma<T, 32>(x, dy, blocks, tokens, features, shared_block, device, grad_blocks,
                                                  dx, stream)
                     : rotate_backward_mma<T, 64>(x, dy, blocks, tokens, features, shared_block, device, grad_blocks,
                                                  dx, stream);
  }
  if (dx != nullptr) {
    const cudaError_t err =
        rotate_typed<T>(dy, blocks, tokens, features, b, shared_block, /*transpose=*/true, device, dx, stream);
    if (err != cudaSuccess) return err;
  }
  const LaunchShape shape = rotate_grad_shape(tokens, features, b);
  rotate_grad_kernel<T><<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(dy), tokens, features, b, shared_block, grad_tile_rows_for(b),
      vector_access_fits(sizeof(T), b, features, x, dy), grad_blocks);
  return cudaGetLastError();
}

}  // namespace

bool tensor_cores_run_on_current_device() {
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, rotate_mma_kernel<__nv_bfloat16, 32>) != cudaSuccess) {
    cudaGetLastError();  // as below
    return false;
  }
  // The architecture the code was compiled for (__CUDA_ARCH__): binaryVersion is the device's own when the driver
  // compiles the PTX of an older one, whose image of the kernels then holds __trap() in place of mma.sync.
  return attributes.ptxVersion >= 80;
}

bool kernels_run_on_current_device() {
  cudaFuncAttributes attributes{};
  const bool present = cudaFuncGetAttributes(&attributes, neumann_forward_kernel) == cudaSuccess;
  if (!present) cudaGetLastError();  // the failed query must not be blamed on a later launch
  return present;
}

cudaError_t launch_neumann_forward(const float* vec, int64_t blocks, int b, int num_terms, float* out,
                                   cudaStream_t stream) {
  if (blocks == 0) return cudaSuccess;
  const LaunchShape shape = neumann_forward_shape(blocks, b);
  neumann_forward_kernel<<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(vec, b, num_terms, out);
  return cudaGetLastError();
}

size_t neumann_backward_shared_bytes(int b) { return neumann_backward_shape(1, b).shared_bytes; }

cudaError_t launch_neumann_backward(const float* vec, const float* grad, int64_t blocks, int b, int num_terms,
                                    float* scratch, float* grad_vec, cudaStream_t stream) {
  if (blocks == 0) return cudaSuccess;
  const LaunchShape shape = neumann_backward_shape(blocks, b);
  if (shape.shared_bytes > kDefaultSharedBytes) {
    const cudaError_t err = cudaFuncSetAttribute(neumann_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(shape.shared_bytes));
    if (err != cudaSuccess) {
      cudaGetLastError();  // returned here, not left for a later launch to report
      return err;
    }
  }
  neumann_backward_kernel<<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(vec, grad, b, num_terms, scratch,
                                                                                     grad_vec);
  return cudaGetLastError();
}

cudaError_t launch_cayley_forward(const float* vec, int64_t blocks, int b, float* out, cudaStream_t stream) {
  if (blocks == 0) return cudaSuccess;
  const LaunchShape shape = cayley_forward_shape(blocks, b);  // 33 KiB at b = 64: within the default
  cayley_forward_kernel<<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(vec, b, out);
  return cudaGetLastError();
}

cudaError_t launch_cayley_backward(const float* rotation, const float* grad, int64_t blocks, int b, float* grad_vec,
                                   cudaStream_t stream) {
  if (blocks == 0) return cudaSuccess;
  const LaunchShape shape = cayley_backward_shape(blocks, b);  // 48 KiB at b = 64: within the default
  cayley_backward_kernel<<<shape.grid, shape.threads, shape.shared_bytes, stream>>>(rotation, grad, b, grad_vec);
  return cudaGetLastError();
}

cudaError_t launch_rotate(ElementType type, const void* x, const float* blocks, int64_t tokens, int features, int b,
                          bool shared_block, bool transpose, const LaunchDevice& device, void* y, cudaStream_t stream) {
  if (tokens == 0 || features == 0) return cudaSuccess;
  switch (type) {
    case ElementType::kFloat32:
      return rotate_typed<float>(x, blocks, tokens, features, b, shared_block, transpose, device, y, stream);
    case ElementType::kFloat16:
      return rotate_typed<__half>(x, blocks, tokens, features, b, shared_block, transpose, device, y, stream);
    case ElementType::kBFloat16:
      return rotate_typed<__nv_bfloat16>(x, blocks, tokens, features, b, shared_block, transpose, device, y, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_rotate_backward(ElementType type, const void* x, const void* dy, const float* blocks, int64_t tokens,
                                   int features, int b, bool shared_block, const LaunchDevice& device, void* dx,
                                   float* grad_blocks, cudaStream_t stream) {
  if (tokens == 0 || features == 0) return cudaSuccess;
  switch (type) {
    case ElementType::kFloat32:
      return rotate_backward_typed<float>(x, dy, blocks, tokens, features, b, shared_block, device, dx, grad_blocks,
                                          stream);
    case ElementType::kFloat16:
      return rotate_backward_typed<__half>(x, dy, blocks, tokens, features, b, shared_block, device, dx, grad_blocks,
                                           stream);
    case ElementType::kBFloat16:
      return rotate_backward_typed<__nv_bfloat16>(x, dy, blocks, tokens, features, b, shared_block, device, dx,
                                                  grad_blocks, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace oft::cuda
