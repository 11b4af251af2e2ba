#pragma once
// Host entry points of the rotation kernels (rotation_kernels.cu): raw device pointers, sizes and a
// stream, so that the .cu file needs no LibTorch headers. Each returns the launch's cudaError_t.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace oft::cuda {

// The kernels keep whole b x b blocks in shared memory; larger blocks take LibTorch's operators.
constexpr int kMaxKernelBlockSize = 64;

enum class ElementType { kFloat32, kFloat16, kBFloat16 };

// Whether the current device can run these kernels: liboft_cuda holds them only for the architectures it
// was built for (OFT_CUDA_ARCHITECTURES), so an older GPU has no image of them.
bool kernels_run_on_current_device();
// Whether the current device runs the tensor-core forms of the activation rotations (sm_80 and later images).
bool tensor_cores_run_on_current_device();

// vec (blocks, b(b-1)/2) -> out (blocks, b, b): PEFT's Cayley-Neumann series with num_terms >= 2.
cudaError_t launch_neumann_forward(const float* vec, int64_t blocks, int b, int num_terms, float* out,
                                   cudaStream_t stream);
// grad (blocks, b, b) = dL/dR -> grad_vec (blocks, b(b-1)/2); scratch holds (blocks, b, b) floats.
cudaError_t launch_neumann_backward(const float* vec, const float* grad, int64_t blocks, int b, int num_terms,
                                    float* scratch, float* grad_vec, cudaStream_t stream);
// vec (blocks, b(b-1)/2) -> out (blocks, b, b): the exact Cayley transform (I - Q)(I + Q)^-1.
cudaError_t launch_cayley_forward(const float* vec, int64_t blocks, int b, float* out, cudaStream_t stream);
// From the forward's rotations and grad (blocks, b, b) = dL/dR -> grad_vec (blocks, b(b-1)/2).
cudaError_t launch_cayley_backward(const float* rotation, const float* grad, int64_t blocks, int b, float* grad_vec,
                                   cudaStream_t stream);
// y (tokens, features) = x . blockdiag(R) (R^T with transpose), R (features / b or 1 shared, b, b) fp32;
// x and y of `type`, arithmetic in fp32; on the tensor cores where `tensor_cores` and the shapes allow
// (tensor_cores_run_on_current_device says whether the device may).
cudaError_t launch_rotate(ElementType type, const void* x, const float* blocks, int64_t tokens, int features, int b,
                          bool shared_block, bool transpose, bool tensor_cores, void* y, cudaStream_t stream);
// grad_blocks (zeroed, fp32) += per block sum over tokens of x_k^T dy_k (all blocks into one when shared).
cudaError_t launch_rotate_grad(ElementType type, const void* x, const void* dy, int64_t tokens, int features, int b,
                               bool shared_block, bool tensor_cores, float* grad_blocks, cudaStream_t stream);
// Both gradients of y = x . blockdiag(R): dx (tokens, features) of `type` = dy . blockdiag(R^T), and grad_blocks
// (zeroed, fp32) as launch_rotate_grad adds them; from one read of x and dy on the tensor cores where they apply,
// else the two launches above.
cudaError_t launch_rotate_backward(ElementType type, const void* x, const void* dy, const float* blocks, int64_t tokens,
                                   int features, int b, bool shared_block, bool tensor_cores, void* dx,
                                   float* grad_blocks, cudaStream_t stream);

}  // namespace oft::cuda
