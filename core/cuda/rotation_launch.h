#pragma once
// Host entry points of the rotation kernels (rotation_kernels.cu): raw device pointers, sizes and a
// stream, so that the .cu file needs no LibTorch headers. Each returns the launch's cudaError_t.
#include <cstddef>
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
// Shared memory of one block's launch_neumann_backward: above the default 48 KiB for b > 49 (80 KiB at b = 64),
// which needs the device's opt-in limit (64 KiB on sm_75 and older, more from sm_80).
size_t neumann_backward_shared_bytes(int b);
// grad (blocks, b, b) = dL/dR -> grad_vec (blocks, b(b-1)/2); scratch holds (blocks, b, b) floats.
cudaError_t launch_neumann_backward(const float* vec, const float* grad, int64_t blocks, int b, int num_terms,
                                    float* scratch, float* grad_vec, cudaStream_t stream);
// vec (blocks, b(b-1)/2) -> out (blocks, b, b): the exact Cayley transform (I - Q)(I + Q)^-1.
cudaError_t launch_cayley_forward(const float* vec, int64_t blocks, int b, float* out, cudaStream_t stream);
// From the forward's rotations and grad (blocks, b, b) = dL/dR -> grad_vec (blocks, b(b-1)/2).
cudaError_t launch_cayley_backward(const float* rotation, const float* grad, int64_t blocks, int b, float* grad_vec,
                                   cudaStream_t stream);
// What the activation rotations' launches need to know of the device.
struct LaunchDevice {
  bool tensor_cores;    // may take the tensor-core kernels (tensor_cores_run_on_current_device, and not switched off)
  int multiprocessors;  // sizes their grids
};

// y (tokens, features) = x . blockdiag(R) (R^T with transpose), R (features / b or 1 shared, b, b) fp32;
// x and y of `type`, arithmetic in fp32; on the tensor cores where the device and the shapes allow.
cudaError_t launch_rotate(ElementType type, const void* x, const float* blocks, int64_t tokens, int features, int b,
                          bool shared_block, bool transpose, const LaunchDevice& device, void* y, cudaStream_t stream);
// The gradients of y = x . blockdiag(R) for dy: grad_blocks (zeroed, fp32) += per block sum over tokens of x_k^T dy_k
// (all blocks into one when shared), and unless dx is null, dx (tokens, features) of `type` = dy . blockdiag(R^T).
// Both from one read of x and dy on the tensor cores where they apply, else one kernel after the other.
cudaError_t launch_rotate_backward(ElementType type, const void* x, const void* dy, const float* blocks, int64_t tokens,
                                   int features, int b, bool shared_block, const LaunchDevice& device, void* dx,
                                   float* grad_blocks, cudaStream_t stream);

}  // namespace oft::cuda
