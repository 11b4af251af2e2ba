// The plugin's CUDA kernel, its own source (plugins/aqlm/cuda/aqlm_kernels.cuh) with the launcher's shape, run on the
// CPU by the CUDA emulation (tests/cuda/cuda_emulation.h) against the CPU layer's dequantize(), bit for bit: 1x16,
// 2x8, 1x10 with output groups of 2 (int16 codes), 3x6 with input groups of 4, 2x8 with input groups of 16 and 3x5
// with input groups of 3 (codes of 2^(B-1) and above stored negative), fp32/fp16/bf16 codebooks with scales of their
// dtype or fp32, grids whose last block is partly idle, every emulation order. Every codebook's first codeword holds
// -0 and, with two codebooks or more, values whose fp32 sum is a bf16 tie (rounded away from zero by aqlm's
// embedding_bag), and the first code tuple names them; with three codebooks the order of the fp32 additions shows.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "aqlm_codes.h"
#include "aqlm_config.h"
#include "aqlm_linear.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "aqlm_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::aqlm::cuda;

namespace oft::aqlm::test {
namespace {

struct Layout {
  int64_t codebooks, nbits, out_group, in_group;
};

// tests/backends/aqlm/gpu_option_variants.json's (1x10 og 2, 3x6 ig 4), the defaults' 1x16 and the common 2x8, and
// input groups of 16 and 3 (the CPU path's four-lane and one-lane sums).
const Layout kLayouts[] = {{1, 16, 1, 8}, {2, 8, 1, 8}, {1, 10, 2, 8}, {3, 6, 1, 4}, {2, 8, 1, 16}, {3, 5, 1, 3}};

std::string describe(const Layout& l, at::ScalarType dtype, at::ScalarType scale_dtype, emu::Order order) {
  return std::to_string(l.codebooks) + "x" + std::to_string(l.nbits) + " og" + std::to_string(l.out_group) + " ig" +
         std::to_string(l.in_group) + ", codebooks " + c10::toString(dtype) + ", scales " + c10::toString(scale_dtype) +
         ", " + emu::describe(order);
}

// A layer of 10 output groups and 12 input groups with random codes, codebooks and scales (of both signs): 10 or 20
// rows of 36 to 192 values, never a multiple of 256.
std::shared_ptr<AqlmLinear> random_layer(const Layout& l, at::ScalarType dtype, at::ScalarType scale_dtype) {
  AqlmConfig config;
  config.num_codebooks = l.codebooks;
  config.nbits_per_codebook = l.nbits;
  config.out_group_size = l.out_group;
  config.in_group_size = l.in_group;
  const int64_t q = config.codebook_size(), out = 10 * l.out_group, in = 12 * l.in_group;
  at::Tensor codes = at::randint(q, {out / l.out_group, in / l.in_group, l.codebooks}, at::kLong);
  codes[0][0].fill_(0);
  at::Tensor books = at::randn({l.codebooks, q, l.out_group, l.in_group});
  for (int64_t c = 0; c < l.codebooks; ++c) {
    books[c][0].view(-1)[0] = -0.f;
    books[c][0].view(-1)[1] = c == 0 ? 1.f : (c == 1 ? 0.00390625f : 0.f);  // with 2 codebooks or more: sum 1 + 2^-8
  }
  const at::Tensor scales =
      (at::rand({out / l.out_group, 1, 1, 1}) + 0.5) * (at::randint(2, {out / l.out_group, 1, 1, 1}) * 2 - 1);
  return std::make_shared<AqlmLinear>(
      AqlmTensors{pack_codes(codes, l.nbits), books.to(dtype), scales.to(scale_dtype), at::Tensor()},
      sdk::LinearShape{in, out, false}, config);
}

// The codebooks' dtype, and float32 where that is another.
std::vector<at::ScalarType> scale_dtypes(at::ScalarType dtype) {
  if (dtype == at::kFloat) return {dtype};
  return {dtype, at::kFloat};
}

TEST(AqlmKernelEmulation, DequantizationEqualsTheCpuPath) {
  int launches = 0;
  for (const Layout& l : kLayouts)
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16})
      for (const at::ScalarType scale_dtype : scale_dtypes(dtype)) {
        at::manual_seed(l.nbits * 10 + l.in_group);
        const auto layer = random_layer(l, dtype, scale_dtype);
        const at::Tensor expected = layer->dequantize();  // the CPU path
        ASSERT_EQ(expected.scalar_type(), dtype);
        const int64_t out = expected.size(0), in = expected.size(1);
        // What the companion hands the kernel: the codes as stored, the codebooks in their dtype, fp32 scales.
        const at::Tensor codes = layer->codes().contiguous(), books = layer->codebooks().contiguous(),
                         scales = layer->scales().to(at::kFloat).contiguous();
        const kernels::LaunchShape shape = kernels::dequantize_shape(out, in);
        ASSERT_NE(out * in % shape.threads, 0u) << "the last block should be partly idle";
        for (const emu::Order order : emu::kAllOrders) {
          SCOPED_TRACE(describe(l, dtype, scale_dtype, order));
          const at::Tensor got = emu::unwritten({out, in}, dtype);
          emu::with_element_type(dtype, [&](auto element) {
            using E = decltype(element);
            const auto run = [&](auto code_element) {
              using K = decltype(code_element);
              emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_kernel<K, E>,
                          static_cast<const K*>(codes.data_ptr()), static_cast<const E*>(books.data_ptr()),
                          scales.const_data_ptr<float>(), static_cast<int>(l.codebooks), static_cast<int>(l.nbits),
                          l.out_group, l.in_group, out, in, static_cast<E*>(got.data_ptr()));
            };
            // The signed codes as the launcher passes them: unsigned.
            if (codes.scalar_type() == at::kShort)
              run(uint16_t{});
            else
              run(uint8_t{});
          });
          ++launches;
          // Equal bits (so also the signs of zeros).
          EXPECT_TRUE(at::equal(got.view(at::kByte), expected.contiguous().view(at::kByte)))
              << "max difference " << (got.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>();
        }
      }
  EXPECT_EQ(launches, 6 * 5 * 3);
}

// The launch covers every value with whole blocks of 256 threads, the last one partly idle where the count is not a
// multiple of 256.
TEST(AqlmKernelEmulation, LaunchShapeCoversEveryValue) {
  for (const auto& [out, in] : std::vector<std::pair<int64_t, int64_t>>{{10, 96}, {20, 96}, {1, 1}, {4096, 4096}}) {
    const kernels::LaunchShape shape = kernels::dequantize_shape(out, in);
    EXPECT_EQ(shape.threads, 256u);
    EXPECT_GE(int64_t{shape.blocks} * shape.threads, out * in);
    EXPECT_LT((int64_t{shape.blocks} - 1) * shape.threads, out * in);
  }
}

}  // namespace
}  // namespace oft::aqlm::test
