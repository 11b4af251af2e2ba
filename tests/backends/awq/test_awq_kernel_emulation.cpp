// The plugin's CUDA kernels, their own source (plugins/awq/cuda/awq_kernels.cuh) with the launchers' shape, run on
// the CPU by the CUDA emulation (tests/cuda/cuda_emulation.h) against the CPU dequantization, bit for bit: the gemm
// layout at 2, 3, 4 (AWQ's interleave) and 8 bits and the gemv layout (4 bits, zeros and scales padded), for several
// group sizes, output counts that are not multiples of 32 (nor of 8 where the layout allows), grids whose last block
// is partly idle, each scales dtype and every emulation order. The packed words are random: every bit pattern is a
// valid code, so every field position is checked.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "awq_dequant_cpu.h"
#include "awq_packing.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "awq_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::awq::cuda;

namespace oft::awq::test {
namespace {

// Random packed words: int32 (rows, words), every bit random.
at::Tensor random_words(int64_t rows, int64_t words) {
  return at::randint(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), {rows, words},
                     at::TensorOptions().dtype(at::kInt));
}

// Scales of `dtype` (small, of both signs, one fp16 subnormal).
at::Tensor random_scales(int64_t rows, int64_t columns, at::ScalarType dtype) {
  at::Tensor scales = at::randn({rows, columns}) * 0.05;
  scales[0][columns - 1] = 1e-7;
  return scales.to(dtype);
}

std::string trace(const std::string& layout, at::ScalarType dtype, emu::Order order) {
  return layout + ", " + c10::toString(dtype) + ", " + emu::describe(order);
}

struct GemmCase {
  int bits;
  int64_t in, n_out, group_size;
};

// in * n_out is not a multiple of 256 in most cases (80 * 40 = 12.5 blocks): the last block's threads past the end
// return. 37 outputs: a bit stream cut inside a word (3 bits: the last field in the fourth word); the 4-bit layout
// needs whole words of 8.
std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cases;
  for (const int bits : {2, 3, 4, 8}) {
    const std::vector<int64_t> outputs = bits == 4 ? std::vector<int64_t>{40, 72} : std::vector<int64_t>{37, 40};
    for (const int64_t n_out : outputs) {
      for (const int64_t group_size : {16, 40, 80}) cases.push_back({bits, 80, n_out, group_size});
      cases.push_back({bits, 128, n_out, 64});
    }
  }
  return cases;
}

TEST(AwqKernelEmulation, GemmDequantizationEqualsTheCpuPath) {
  for (const GemmCase& c : gemm_cases()) {
    const int64_t groups = c.in / c.group_size, words = gemm_words(c.n_out, c.bits);
    at::manual_seed(c.bits * 1000 + c.n_out + c.group_size);
    const at::Tensor qweight = random_words(c.in, words), qzeros = random_words(groups, words);
    // The CPU path's own decoding of the zero points (at 4 bits not through awq_dequant_math.h).
    const at::Tensor zeros = decode_gemm_cpu(qzeros, c.bits, c.n_out);
    const kernels::LaunchShape shape = kernels::dequantize_shape(c.in, c.n_out);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      const at::Tensor scales = random_scales(groups, c.n_out, dtype);
      const at::Tensor expected =
          dequantize_gemm_cpu(qweight, zeros, scales.to(at::kFloat), c.bits, c.group_size, dtype);
      for (const emu::Order order : emu::kAllOrders) {
        SCOPED_TRACE(trace("gemm " + std::to_string(c.bits) + " bits, " + std::to_string(c.in) + " x " +
                               std::to_string(c.n_out) + ", group size " + std::to_string(c.group_size),
                           dtype, order));
        const at::Tensor got = emu::unwritten({c.in, c.n_out}, dtype);
        emu::with_element_type(dtype, [&](auto element) {
          using T = decltype(element);
          emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_gemm_kernel<T>,
                      reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>()),
                      reinterpret_cast<const uint32_t*>(qzeros.data_ptr<int32_t>()),
                      static_cast<const T*>(scales.data_ptr()), c.bits, c.group_size, c.in, c.n_out,
                      static_cast<T*>(got.data_ptr()));
        });
        EXPECT_TRUE(at::equal(got.to(at::kFloat), expected));
      }
    }
  }
}

struct GemvCase {
  int64_t in, n_out, group_size, zeros_width;
};

// 37 outputs (any count is allowed here); group sizes 16, 32, 64 and 128 with gemv_zeros_width's padding, 20 (groups
// that split words: the CPU path's scalar loop) and a whole-row group with a padding word of its own.
std::vector<GemvCase> gemv_cases() {
  std::vector<GemvCase> cases;
  for (const int64_t n_out : {37, 40}) {
    for (const int64_t group_size : {16, 32, 64, 128}) cases.push_back({256, n_out, group_size, 0});
    cases.push_back({80, n_out, 20, 2});
    cases.push_back({80, n_out, 80, 2});
  }
  for (GemvCase& c : cases)
    if (c.zeros_width == 0) c.zeros_width = gemv_zeros_width(c.in, c.group_size);
  return cases;
}

TEST(AwqKernelEmulation, GemvDequantizationEqualsTheCpuPath) {
  for (const GemvCase& c : gemv_cases()) {
    const int64_t groups = c.in / c.group_size;
    ASSERT_GE(8 * c.zeros_width, groups);
    at::manual_seed(c.in + c.n_out + c.group_size);
    // The padding holds random words too: the kernel must not read it.
    const at::Tensor qweight = random_words(c.n_out, c.in / 8), qzeros = random_words(c.n_out, c.zeros_width);
    const at::Tensor zeros = decode_sequential4_cpu(qzeros).narrow(1, 0, groups).contiguous();
    const kernels::LaunchShape shape = kernels::dequantize_shape(c.in, c.n_out);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      const at::Tensor scales = random_scales(c.n_out, 8 * c.zeros_width, dtype);
      const at::Tensor expected = dequantize_gemv_cpu(
          qweight, zeros, scales.narrow(1, 0, groups).to(at::kFloat).contiguous(), c.group_size, dtype);
      for (const emu::Order order : emu::kAllOrders) {
        SCOPED_TRACE(trace("gemv " + std::to_string(c.n_out) + " x " + std::to_string(c.in) + ", group size " +
                               std::to_string(c.group_size) + ", zeros width " + std::to_string(c.zeros_width),
                           dtype, order));
        const at::Tensor got = emu::unwritten({c.n_out, c.in}, dtype);
        emu::with_element_type(dtype, [&](auto element) {
          using T = decltype(element);
          emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_gemv_kernel<T>,
                      reinterpret_cast<const uint32_t*>(qweight.data_ptr<int32_t>()),
                      reinterpret_cast<const uint32_t*>(qzeros.data_ptr<int32_t>()),
                      static_cast<const T*>(scales.data_ptr()), c.group_size, c.zeros_width, c.in, c.n_out,
                      static_cast<T*>(got.data_ptr()));
        });
        EXPECT_TRUE(at::equal(got.to(at::kFloat), expected));
      }
    }
  }
}

// The launch covers every value with whole blocks of 256 threads, the last one partly idle where the count is not a
// multiple of 256.
TEST(AwqKernelEmulation, LaunchShapeCoversEveryValue) {
  for (const auto& [in, n_out] : std::vector<std::pair<int64_t, int64_t>>{{80, 40}, {128, 40}, {1, 1}, {4096, 11008}}) {
    const kernels::LaunchShape shape = kernels::dequantize_shape(in, n_out);
    EXPECT_EQ(shape.threads, 256u);
    EXPECT_GE(int64_t{shape.blocks} * shape.threads, in * n_out);
    EXPECT_LT((int64_t{shape.blocks} - 1) * shape.threads, in * n_out);
  }
}

}  // namespace
}  // namespace oft::awq::test
