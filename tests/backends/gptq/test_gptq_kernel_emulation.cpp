// The plugin's CUDA kernel, its own source (plugins/gptq/cuda/gptq_kernels.cuh) with the launcher's shape, run
// on the CPU by the CUDA emulation (tests/cuda/cuda_emulation.h) against the CPU dequantization, bit for bit,
// for every bit width (3 bits: codes across words), act-order group indices and each output dtype, and with
// group indices out of range.
#include <cstdint>
#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "gptq_dequant_cpu.h"
#include "gptq_packing.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "gptq_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::gptq::cuda;

namespace oft::gptq::test {
namespace {

// 96 inputs (three runs of 32) by 37 outputs: 3552 values, the last block of 256 threads partly idle.
TEST(GptqKernelEmulation, DequantizationEqualsTheCpuPath) {
  const int64_t in = 96, n_out = 37, groups = 3;
  for (const int bits : {2, 3, 4, 8}) {
    at::manual_seed(bits);
    const at::Tensor qweight = pack_rows(at::randint(0, 1 << bits, {in, n_out}, at::kInt), bits).contiguous();
    const at::Tensor zeros = at::randint(0, 1 << bits, {groups, n_out}).to(at::kFloat);
    const at::Tensor scales = (at::rand({groups, n_out}) * 0.1).to(at::kHalf).to(at::kFloat);  // fp16 scales
    const at::Tensor g_idx = at::randint(0, groups, {in}, at::kInt);                           // act order
    const kernels::LaunchShape shape = kernels::dequantize_kn_shape(in, n_out);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16})
      for (const emu::Order order : emu::kAllOrders) {
        SCOPED_TRACE(std::to_string(bits) + " bits, " + c10::toString(dtype) + ", order " +
                     std::to_string(static_cast<int>(order)));
        const at::Tensor expected = dequantize_cpu(qweight, zeros, scales, g_idx, bits, dtype);
        const at::Tensor got = emu::unwritten({in, n_out}, dtype);
        emu::with_element_type(dtype, [&](auto element) {
          using T = decltype(element);
          emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_kn_kernel<T>,
                      reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>()), zeros.data_ptr<float>(),
                      scales.data_ptr<float>(), g_idx.data_ptr<int32_t>(), groups, bits, in, n_out,
                      static_cast<T*>(got.data_ptr()));
        });
        EXPECT_TRUE(at::equal(got.to(at::kFloat), expected));
      }
  }
}

// A group index outside [0, groups) (g_idx written in place after loading) reads the nearest group: the kernel
// never reads outside zeros/scales (ASan checks it in the sanitizer run), and GptqLinear reports the bad g_idx.
TEST(GptqKernelEmulation, GroupIndicesOutsideTheRangeReadTheNearestGroup) {
  const int64_t in = 64, n_out = 40, groups = 2;
  const int bits = 4;
  at::manual_seed(5);
  const at::Tensor qweight = pack_rows(at::randint(0, 1 << bits, {in, n_out}, at::kInt), bits).contiguous();
  const at::Tensor zeros = at::randint(0, 1 << bits, {groups, n_out}).to(at::kFloat);
  const at::Tensor scales = at::rand({groups, n_out}) * 0.1;
  const at::Tensor g_idx = at::randint(-3, groups + 3, {in}, at::kInt);
  ASSERT_TRUE(g_idx.lt(0).any().item<bool>() && g_idx.ge(groups).any().item<bool>());
  const at::Tensor expected = dequantize_cpu(qweight, zeros, scales, g_idx.clamp(0, groups - 1), bits, at::kFloat);
  const at::Tensor got = emu::unwritten({in, n_out});
  const kernels::LaunchShape shape = kernels::dequantize_kn_shape(in, n_out);
  emu::launch(shape.blocks, shape.threads, 0, {emu::Order::kForward, 1}, kernels::dequantize_kn_kernel<float>,
              reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>()), zeros.data_ptr<float>(),
              scales.data_ptr<float>(), g_idx.data_ptr<int32_t>(), groups, bits, in, n_out, got.data_ptr<float>());
  EXPECT_TRUE(at::equal(got, expected));
}

}  // namespace
}  // namespace oft::gptq::test
