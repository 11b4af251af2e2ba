// The plugin's CUDA kernels, their own source (plugins/bnb/cuda/bnb_kernels.cuh) with the launchers' shapes,
// run on the CPU by the CUDA emulation (tests/cuda/cuda_emulation.h) against the plugin's CPU path: the
// dequantizations bit for bit, the fused 4-bit GEMV (warp shuffles) within fp32 summation order. Every launch
// runs with each block's threads in forward, reverse and shuffled order. Runs without a GPU.
#include <cstdint>
#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "blockwise.h"
#include "int8_math.h"
#include "quant_type.h"
#include "test_support.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "bnb_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::bnb::cuda;
using emu::unwritten;
using emu::with_element_type;
using oft::test::close;

namespace oft::bnb {
namespace {

const at::ScalarType kDtypes[] = {at::kFloat, at::kHalf, at::kBFloat16};

// Odd element counts: the last byte holds one code; partial last blocks.
TEST(BnbKernelEmulation, Dequantize4bitEqualsTheCpuPath) {
  at::manual_seed(1);
  const int64_t out = 37, in = 75, n = out * in;
  for (const QuantType type : {QuantType::NF4, QuantType::FP4})
    for (const int64_t blocksize : {64, 256}) {
      const Packed4bit q = quantize_4bit(at::randn({out, in}), type, blocksize);
      for (const at::ScalarType dtype : kDtypes) {
        SCOPED_TRACE(std::string(name_of(type)) + ", blocksize " + std::to_string(blocksize) + ", " +
                     c10::toString(dtype));
        const at::Tensor expected = dequantize_4bit(q.packed, q.absmax, type, blocksize, out, in, dtype);
        const kernels::LaunchShape shape = kernels::dequantize_4bit_shape(n);
        for (const emu::Order order : emu::kAllOrders) {
          SCOPED_TRACE(emu::describe(order));
          const at::Tensor got = unwritten({out, in}, dtype);
          with_element_type(dtype, [&](auto element) {
            using T = decltype(element);
            emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_4bit_kernel<T>,
                        q.packed.data_ptr<uint8_t>(), q.absmax.data_ptr<float>(), type == QuantType::NF4, blocksize, n,
                        static_cast<T*>(got.data_ptr()));
          });
          EXPECT_TRUE(at::equal(got, expected));
        }
      }
    }
}

// 600 absmax values: three nested blocks of 256, the last partial.
TEST(BnbKernelEmulation, NestedAbsmaxEqualsTheCpuPath) {
  at::manual_seed(2);
  const NestedAbsmax nested = quantize_absmax(at::rand({600}) + 0.1);
  const at::Tensor expected = dequantize_absmax(nested.codes, nested.nested_absmax, nested.quant_map, nested.offset);
  const kernels::LaunchShape shape = kernels::elementwise_shape(600);
  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    const at::Tensor got = unwritten({600}, at::kFloat);
    emu::launch(shape.blocks, shape.threads, 0, {order, 2}, kernels::nested_absmax_kernel,
                nested.codes.data_ptr<uint8_t>(), nested.quant_map.data_ptr<float>(),
                nested.nested_absmax.data_ptr<float>(), nested.offset, int64_t{600}, got.data_ptr<float>());
    EXPECT_TRUE(at::equal(got, expected.view({-1})));
  }
}

TEST(BnbKernelEmulation, DequantizeInt8EqualsTheCpuPath) {
  at::manual_seed(3);
  const int64_t rows = 19, cols = 45;
  const Int8Weight q = quantize_int8(at::randn({rows, cols}) * 3);
  const at::Tensor expected = dequantize_int8(q.cb, q.scb);  // float32, one rounding to the dtype after
  const kernels::LaunchShape shape = kernels::elementwise_shape(rows * cols);
  for (const at::ScalarType dtype : kDtypes)
    for (const emu::Order order : emu::kAllOrders) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + ", " + emu::describe(order));
      const at::Tensor got = unwritten({rows, cols}, dtype);
      with_element_type(dtype, [&](auto element) {
        using T = decltype(element);
        emu::launch(shape.blocks, shape.threads, 0, {order, 3}, kernels::dequantize_int8_kernel<T>,
                    q.cb.data_ptr<int8_t>(), q.scb.data_ptr<float>(), cols, rows * cols,
                    static_cast<T*>(got.data_ptr()));
      });
      EXPECT_TRUE(at::equal(got, expected.to(dtype)));
    }
}

// As the CUDA suite: the kernel and LibTorch differ in fp32 summation order before the rounding.
double output_tolerance(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return 1.6e-2;
  if (dtype == at::kHalf) return 2e-3;
  return 1e-5;
}

// The GEMV kernel on x (tokens, in) in x's dtype, through the token bound the launcher picks; the blocks' absmax
// from `scales`, by default q's float32 values.
at::Tensor run_gemv(const at::Tensor& x, const Packed4bit& q, int64_t out, int64_t blocksize, const at::Tensor& bias,
                    emu::Order order, kernels::BlockScales scales = {}) {
  if (!scales.codes) scales.absmax = q.absmax.data_ptr<float>();
  const int64_t tokens = x.size(0), in = x.size(1);
  const at::Tensor y = unwritten({tokens, out}, x.scalar_type());
  const kernels::LaunchShape shape = kernels::gemv_shape(out);
  with_element_type(x.scalar_type(), [&](auto element) {
    using T = decltype(element);
    kernels::with_token_bound(tokens, [&](auto bound) {
      emu::launch(shape.blocks, shape.threads, 0, {order, 4}, kernels::gemv_4bit_kernel<T, decltype(bound)::value>,
                  static_cast<const T*>(x.data_ptr()), static_cast<int>(tokens), in, out, q.packed.data_ptr<uint8_t>(),
                  scales, true, blocksize, bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr,
                  in % 32 == 0, static_cast<T*>(y.data_ptr()));
    });
  });
  return y;
}

// x . W^T in float32 with W dequantized to x's dtype, as the CPU path (and the GPU's GEMM past 16 tokens)
// multiplies it; LibTorch's 16-bit GEMMs, like the kernel, sum the products in float32.
at::Tensor reference_gemv(const at::Tensor& x, const Packed4bit& q, int64_t out, int64_t blocksize) {
  const at::Tensor w = dequantize_4bit(q.packed, q.absmax, QuantType::NF4, blocksize, out, x.size(1), x.scalar_type());
  return at::matmul(x.to(at::kFloat), w.to(at::kFloat).t());
}

// y = x . dequantize_4bit(W)^T + bias against the CPU path's dequantization and LibTorch's matmul. 10 rows by
// default: the last block's last two warps have no row and exit.
void check_gemv(at::ScalarType dtype, int64_t tokens, int64_t in, bool with_bias, int64_t out = 10) {
  const int64_t blocksize = 64;
  const bool vectorized = in % 32 == 0;
  SCOPED_TRACE(std::string(c10::toString(dtype)) + ", " + std::to_string(tokens) + " tokens, " + std::to_string(out) +
               " x " + std::to_string(in) + (vectorized ? " (vectorized)" : "") + (with_bias ? ", bias" : ""));
  at::manual_seed(tokens * 100 + in);
  const Packed4bit q = quantize_4bit(at::randn({out, in}), QuantType::NF4, blocksize);
  const at::Tensor x = at::randn({tokens, in}).to(dtype);
  const at::Tensor bias =
      with_bias ? at::randn({out}).to(dtype) : at::Tensor();  // in x's dtype, as the layer passes it
  at::Tensor expected = reference_gemv(x, q, out, blocksize);
  if (with_bias) expected = expected + bias.to(at::kFloat);
  expected = expected.to(dtype).to(at::kFloat);
  // The launcher's condition for 16-byte loads of the packed codes and the inputs.
  ASSERT_TRUE(!vectorized || (reinterpret_cast<std::uintptr_t>(q.packed.data_ptr()) % 16 == 0 &&
                              reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0));

  for (const emu::Order order : emu::kAllOrders) {
    SCOPED_TRACE(emu::describe(order));
    const at::Tensor y = run_gemv(x, q, out, blocksize, bias, order);
    EXPECT_TRUE(close(y.to(at::kFloat), expected, output_tolerance(dtype), "y"));
  }
}

// in = 75: element by element; 96: three 32-code chunks (lanes 3..31 idle); 1280: 40 chunks, so lanes 0..7
// take two. Token counts of each bound (1, 4, 8, 16), partly filled (3, 5) and full. 37 x 75: an odd element
// count, so the last byte holds one code (with in = 75 every other row starts in the middle of a byte).
TEST(BnbKernelEmulation, Gemv4bitMatchesTheCpuPath) {
  for (const at::ScalarType dtype : kDtypes) {
    for (const int64_t tokens : {1, 3, 5, 8, 16})
      for (const int64_t in : {75, 96}) check_gemv(dtype, tokens, in, tokens != 3);
    check_gemv(dtype, 5, 75, true, 37);
  }
  check_gemv(at::kFloat, 6, 1280, true);
  check_gemv(at::kFloat, 2, 1280, false);
}

// Each token's x is 1 at two inputs and 0 elsewhere, so each output is the sum of two weights: exact in float32
// for the kernel and the reference alike, in any order. The outputs are then bit-exact only when the kernel
// multiplies each weight rounded to the compute dtype, as the CPU path does (rounding w1 + w2 once differs).
TEST(BnbKernelEmulation, Gemv4bitMultipliesTheWeightRoundedToTheComputeDtype) {
  const int64_t out = 10, tokens = 4, blocksize = 64;
  for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16})
    for (const int64_t in : {75, 96}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + ", in = " + std::to_string(in));
      at::manual_seed(in);
      const Packed4bit q = quantize_4bit(at::randn({out, in}), QuantType::NF4, blocksize);
      const at::Tensor x = at::zeros({tokens, in}, at::TensorOptions().dtype(dtype));
      for (int64_t t = 0; t < tokens; ++t) {
        x[t][t].fill_(1);
        x[t][in - 1 - 2 * t].fill_(1);
      }
      const at::Tensor y = run_gemv(x, q, out, blocksize, at::Tensor(), emu::Order::kForward);
      EXPECT_TRUE(at::equal(y, reference_gemv(x, q, out, blocksize).to(dtype)));
    }
}

// Double quantization: the kernel decodes each block's absmax from its 8-bit code where it reads it, to the value the
// CPU path's dequantize_absmax gives, so the outputs equal those of the kernel given the decoded values. 300 x 75
// (element by element) and 40 x 512 (16-byte loads) at block size 64: 352 and 320 blocks, two nested blocks of 256.
TEST(BnbKernelEmulation, Gemv4bitDecodesNestedAbsmaxCodesAsTheCpuPath) {
  for (const auto& [out, in] : {std::pair<int64_t, int64_t>{300, 75}, {40, 512}}) {
    SCOPED_TRACE(std::to_string(out) + " x " + std::to_string(in));
    at::manual_seed(out);
    const int64_t blocksize = 64;
    const Packed4bit q = quantize_4bit(at::randn({out, in}), QuantType::NF4, blocksize);
    const NestedAbsmax nested = quantize_absmax(q.absmax);
    const at::Tensor decoded = dequantize_absmax(nested.codes, nested.nested_absmax, nested.quant_map, nested.offset);
    const Packed4bit decoded_q{q.packed, decoded.contiguous()};
    const at::Tensor x = at::randn({3, in}).to(at::kBFloat16);
    const at::Tensor expected = run_gemv(x, decoded_q, out, blocksize, at::Tensor(), emu::Order::kForward);
    kernels::BlockScales codes;
    codes.codes = nested.codes.data_ptr<uint8_t>();
    codes.map = nested.quant_map.data_ptr<float>();
    codes.nested_absmax = nested.nested_absmax.data_ptr<float>();
    codes.offset = nested.offset;
    for (const emu::Order order : emu::kAllOrders) {
      SCOPED_TRACE(emu::describe(order));
      EXPECT_TRUE(at::equal(run_gemv(x, q, out, blocksize, at::Tensor(), order, codes), expected));
    }
  }
}

}  // namespace
}  // namespace oft::bnb
