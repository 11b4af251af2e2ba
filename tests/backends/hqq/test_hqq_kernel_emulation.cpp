// The plugin's CUDA kernel, its own source (plugins/hqq/cuda/hqq_kernels.cuh) with the launcher's shape, run on the
// CPU by the CUDA emulation (tests/cuda/cuda_emulation.h) against the CPU layer's dequantize(), bit for bit: every
// packing (8, 4, 2 and 1 bits in bytes, 3 bits in int32 words with padding rows), zero and scale per code row (axis
// 1), per code column (axis 0) and one for all (channel_wise false), several group sizes, a grid whose last block is
// half idle, fp32/fp16/bf16 compute dtypes and zero/scale dtypes whose steps round to different dtypes, every
// emulation order. The packed codes are random bytes and words: every bit pattern is a valid code, so every plane's
// bits are checked (and a 3-bit word's unused top bits must be ignored).
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "hqq_dequant_cpu.h"
#include "hqq_linear.h"
#include "hqq_packing.h"

// The emulation first: the kernel header compiles against it.
#include "cuda_emulation.h"
#include "emulation_tensors.h"

#include "hqq_kernels.cuh"

namespace emu = oft::test::emulation;
namespace kernels = oft::hqq::cuda;

namespace oft::hqq::test {
namespace {

// A 24 x 80 weight: 1920 values, 7.5 blocks of 256 threads.
constexpr int64_t kOut = 24, kIn = 80;

struct Layout {
  int axis;  // 1, 0, or -1 for channel_wise false
  int64_t group_size;
};

// Axis 1: 120, 80 and 48 code rows of 16, 24 and 40 columns; axis 0: 16, 24 and 40 code rows (3 bits: 2, 3 and 4
// packed rows, the first two with padding); channel_wise false: the 24 x 80 weight itself. Every row count splits
// into the byte packings' planes.
std::vector<Layout> layouts() {
  std::vector<Layout> all;
  for (const int axis : {1, 0})
    for (const int64_t group_size : {16, 24, 40}) all.push_back({axis, group_size});
  all.push_back({-1, 64});
  return all;
}

struct Dtypes {
  at::ScalarType compute, zero, scale;
};

// One dtype for all three, and mixes whose difference and product dtypes differ (fp16 then fp32, bf16 then fp32,
// fp32 from fp16 codes and a bf16 zero).
std::vector<Dtypes> dtype_cases() {
  return {{at::kFloat, at::kFloat, at::kFloat},          {at::kHalf, at::kHalf, at::kHalf},
          {at::kBFloat16, at::kBFloat16, at::kBFloat16}, {at::kHalf, at::kHalf, at::kFloat},
          {at::kBFloat16, at::kBFloat16, at::kHalf},     {at::kHalf, at::kBFloat16, at::kHalf}};
}

// Random packed codes for `meta`: every bit of every byte or int32 word random.
at::Tensor random_packed(const HqqMeta& meta) {
  const std::vector<int64_t> shape{packed_rows(meta.packing, meta.rows), meta.cols};
  if (packed_dtype(meta.packing) == at::kInt)
    return at::randint(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), shape,
                       at::TensorOptions().dtype(at::kInt));
  return at::randint(0, 256, shape, at::TensorOptions().dtype(at::kByte));
}

// A layer of `meta` with random codes, zero points in [0, max code] (hqq's optimizer leaves them fractional) and
// scales of both signs (one fp16 subnormal).
HqqState random_state(const HqqMeta& meta, const Dtypes& dtypes) {
  HqqState state;
  state.meta = meta;
  state.W_q = random_packed(meta);
  const std::vector<int64_t> stat_shape = meta.group_stat_shape();
  const double max_code = static_cast<double>((int64_t{1} << code_bits(meta.packing)) - 1);
  state.zero = (at::rand(stat_shape) * max_code).to(dtypes.zero);
  at::Tensor scale = at::randn(stat_shape) * 0.05;
  scale.view({-1})[0] = 1e-7;
  state.scale = scale.to(dtypes.scale);
  return state;
}

// The kernel's strides into zero and scale for the layout (the companion's, from their shape).
std::pair<int64_t, int64_t> stat_strides(int axis) {
  if (axis == 1) return {1, 0};
  if (axis == 0) return {0, 1};
  return {0, 0};
}

std::string describe(const HqqMeta& meta, const Layout& layout, const Dtypes& dtypes, emu::Order order) {
  return meta.packing + ", " +
         (layout.axis < 0
              ? std::string("channel_wise false")
              : "axis " + std::to_string(layout.axis) + ", group size " + std::to_string(layout.group_size)) +
         ", " + std::to_string(meta.rows) + " x " + std::to_string(meta.cols) + " codes, compute " +
         c10::toString(dtypes.compute) + ", zero " + c10::toString(dtypes.zero) + ", scale " +
         c10::toString(dtypes.scale) + ", " + emu::describe(order);
}

TEST(HqqKernelEmulation, DequantizationEqualsTheCpuPath) {
  int launches = 0;
  for (const double nbits : {8.0, 4.0, 3.0, 2.0, 1.0})
    for (const Layout& layout : layouts())
      for (const Dtypes& dtypes : dtype_cases()) {
        HqqSettings settings;
        settings.nbits = nbits;
        settings.axis = layout.axis < 0 ? 1 : layout.axis;
        settings.channel_wise = layout.axis >= 0;
        settings.group_size = layout.group_size;
        const HqqMeta meta = make_meta(settings, kOut, kIn, dtypes.compute);
        at::manual_seed(static_cast<uint64_t>(nbits * 100) + meta.rows);
        const HqqState state = random_state(meta, dtypes);
        const StepDtypes steps = step_dtypes(dtypes.compute, state.zero, state.scale);
        const at::Tensor expected = HqqLinear(state).dequantize();  // the CPU path
        ASSERT_EQ(expected.scalar_type(), steps.product);
        // What the companion hands the kernel: zero in the difference dtype, scale in the product dtype.
        const at::Tensor zero = state.zero.to(steps.difference).contiguous(),
                         scale = state.scale.to(steps.product).contiguous();
        const auto [row_stride, col_stride] = stat_strides(layout.axis);
        const kernels::LaunchShape shape = kernels::dequantize_shape(meta.rows, meta.cols);
        ASSERT_NE(meta.rows * meta.cols % shape.threads, 0u) << "the last block should be partly idle";
        for (const emu::Order order : emu::kAllOrders) {
          SCOPED_TRACE(describe(meta, layout, dtypes, order));
          const at::Tensor got = emu::unwritten({meta.rows, meta.cols}, steps.product);
          emu::with_element_type(steps.difference, [&](auto difference) {
            emu::with_element_type(steps.product, [&](auto product) {
              using D = decltype(difference);
              using P = decltype(product);
              const auto run = [&](auto packed_element) {
                using K = decltype(packed_element);
                emu::launch(shape.blocks, shape.threads, 0, {order, 1}, kernels::dequantize_kernel<K, D, P>,
                            static_cast<const K*>(state.W_q.data_ptr()), static_cast<const D*>(zero.data_ptr()),
                            static_cast<const P*>(scale.data_ptr()), row_stride, col_stride,
                            static_cast<int>(code_bits(meta.packing)), meta.rows, meta.cols,
                            static_cast<P*>(got.data_ptr()));
              };
              // The int32 words as the launcher passes them: unsigned.
              if (state.W_q.scalar_type() == at::kInt)
                run(uint32_t{});
              else
                run(uint8_t{});
            });
          });
          ++launches;
          const at::Tensor w = got.view({kOut, kIn});
          ASSERT_EQ(w.scalar_type(), expected.scalar_type());
          EXPECT_TRUE(at::equal(w, expected))
              << "max difference " << (w.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>();
        }
      }
  EXPECT_EQ(launches, 5 * 7 * 6 * 3);
}

// The launch covers every value with whole blocks of 256 threads, the last one partly idle where the count is not a
// multiple of 256.
TEST(HqqKernelEmulation, LaunchShapeCoversEveryValue) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{120, 16}, {16, 120}, {1, 1}, {4096, 64}}) {
    const kernels::LaunchShape shape = kernels::dequantize_shape(rows, cols);
    EXPECT_EQ(shape.threads, 256u);
    EXPECT_GE(int64_t{shape.blocks} * shape.threads, rows * cols);
    EXPECT_LT((int64_t{shape.blocks} - 1) * shape.threads, rows * cols);
  }
}

}  // namespace
}  // namespace oft::hqq::test
