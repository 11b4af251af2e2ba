// sdk::round_in_place, each path (the CPU's fp16 conversions where it has them, and the portable bit operations),
// and sdk::rounded_to_16_lanes (products_in_16_lanes.h, where the CPU has AVX-512F), against LibTorch's own
// conversions (c10::Half, c10::BFloat16 and a tensor's .to(dtype)): every value halfway between
// two neighbouring fp16 / bf16 values and one float step either side (where ties-to-even and carries decide), a sweep
// over all float exponents, fp16's overflow and subnormals, infinities and NaN.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include "oft/sdk/products_in_16_lanes.h"
#include "oft/sdk/reduced_precision_rounding.h"

namespace oft::sdk {
namespace {

float float_of(uint32_t bits) { return std::bit_cast<float>(bits); }
uint32_t bits_of(float value) { return std::bit_cast<uint32_t>(value); }

// Floats where rounding to a 16-bit format decides something: each of the format's values (as the upper bits
// of a float, `shift` bits dropped: 16 for bf16, 13 above the fp16 normal range), the float halfway to the next
// value, and one float step either side of that.
std::vector<float> near_every_tie(int shift) {
  std::vector<float> values;
  const uint32_t half_step = uint32_t{1} << (shift - 1);
  for (uint64_t upper = 0; upper < (uint64_t{1} << (32 - shift)); ++upper) {
    const uint32_t base = static_cast<uint32_t>(upper << shift);
    for (uint32_t offset : {0u, half_step - 1, half_step, half_step + 1}) values.push_back(float_of(base + offset));
  }
  return values;
}

// Every 251st float bit pattern (all exponents, signs and many mantissas), then special values.
std::vector<float> sweep() {
  std::vector<float> values;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 251) values.push_back(float_of(static_cast<uint32_t>(bits)));
  const float specials[] = {0.0f,
                            -0.0f,
                            65504.0f,
                            65519.99f,
                            65520.0f,
                            -65520.0f,
                            65536.0f,
                            1e30f,
                            std::ldexp(1.0f, -14),
                            std::ldexp(1.0f, -24),
                            std::ldexp(1.0f, -25),
                            std::ldexp(3.0f, -26),
                            std::ldexp(1.0f, -26),
                            std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            float_of(0x7f800001u),
                            float_of(0xff800001u)};
  values.insert(values.end(), std::begin(specials), std::end(specials));
  return values;
}

template <typename Reduced>
void expect_same_values(c10::ScalarType dtype, const std::vector<float>& inputs, const std::vector<float>& values) {
  int64_t mismatches = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float expected = static_cast<float>(Reduced(inputs[i]));
    const bool same = std::isnan(expected) ? std::isnan(values[i]) : bits_of(values[i]) == bits_of(expected);
    if (!same && ++mismatches <= 5)
      ADD_FAILURE() << c10::toString(dtype) << ": input bits 0x" << std::hex << bits_of(inputs[i]) << " rounded to 0x"
                    << bits_of(values[i]) << ", expected 0x" << bits_of(expected);
  }
  EXPECT_EQ(mismatches, 0) << "of " << inputs.size() << " values";
}

const RoundingPath kPaths[] = {RoundingPath::kFastest, RoundingPath::kPortable};

template <typename Reduced>
void expect_rounds_like(c10::ScalarType dtype, const std::vector<float>& inputs) {
  for (RoundingPath path : kPaths) {
    SCOPED_TRACE(path == RoundingPath::kFastest ? "fastest path" : "portable path");
    std::vector<float> values = inputs;
    round_in_place(values.data(), static_cast<int64_t>(values.size()), dtype, path);
    expect_same_values<Reduced>(dtype, inputs, values);
  }
}

TEST(ReducedPrecisionRounding, HalfEqualsC10HalfAtEveryTieAndAcrossAllExponents) {
  expect_rounds_like<c10::Half>(at::kHalf, near_every_tie(13));
  expect_rounds_like<c10::Half>(at::kHalf, sweep());
}

TEST(ReducedPrecisionRounding, HalfKeepsSubnormalsOverflowsToInfinityAndKeepsNaN) {
  for (RoundingPath path : kPaths) {
    std::vector<float> v = {std::ldexp(3.0f, -25),
                            std::ldexp(1.0f, -25),
                            std::ldexp(1.0f, -26),
                            65519.0f,
                            65520.0f,
                            -70000.0f,
                            std::numeric_limits<float>::quiet_NaN()};
    round_in_place(v.data(), static_cast<int64_t>(v.size()), at::kHalf, path);
    EXPECT_EQ(v[0], std::ldexp(2.0f, -24));  // 1.5 steps of 2^-24: ties to the even step
    EXPECT_EQ(v[1], 0.0f);                   // half a step: ties to zero (even)
    EXPECT_EQ(v[2], 0.0f);
    EXPECT_EQ(v[3], 65504.0f);
    EXPECT_EQ(v[4], std::numeric_limits<float>::infinity());
    EXPECT_EQ(v[5], -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(v[6]));
  }
}

TEST(ReducedPrecisionRounding, BFloat16EqualsC10BFloat16AtEveryTieAndAcrossAllExponents) {
  expect_rounds_like<c10::BFloat16>(at::kBFloat16, near_every_tie(16));
  expect_rounds_like<c10::BFloat16>(at::kBFloat16, sweep());
}

#ifdef OFT_SDK_X86_ROUNDING
// inputs through rounded_to_16_lanes<kDtype>, sixteen at a time (the last group padded).
template <c10::ScalarType kDtype>
__attribute__((target("avx512f"))) std::vector<float> rounded_in_16_lanes(const std::vector<float>& inputs) {
  std::vector<float> values = inputs;
  values.resize((inputs.size() + 15) / 16 * 16);
  for (size_t i = 0; i < values.size(); i += 16)
    _mm512_storeu_ps(values.data() + i, rounded_to_16_lanes<kDtype>(_mm512_loadu_ps(values.data() + i)));
  values.resize(inputs.size());
  return values;
}

TEST(ReducedPrecisionRounding, SixteenLanesRoundAsC10AtEveryTieAndAcrossAllExponents) {
  if (!cpu_has_avx512f()) GTEST_SKIP() << "this CPU lacks AVX-512F: sixteen-lane products do not run here";
  for (const auto& inputs : {near_every_tie(13), sweep()})
    expect_same_values<c10::Half>(at::kHalf, inputs, rounded_in_16_lanes<c10::kHalf>(inputs));
  for (const auto& inputs : {near_every_tie(16), sweep()})
    expect_same_values<c10::BFloat16>(at::kBFloat16, inputs, rounded_in_16_lanes<c10::kBFloat16>(inputs));
  const std::vector<float> floats = sweep();
  const std::vector<float> unchanged = rounded_in_16_lanes<c10::kFloat>(floats);
  EXPECT_EQ(std::memcmp(unchanged.data(), floats.data(), floats.size() * sizeof(float)), 0);
}
#endif

TEST(ReducedPrecisionRounding, EqualsTensorConversionForOrdinaryValues) {
  // Values a dequantizer produces (no float subnormals, where a CPU's bf16 instructions may flush to zero).
  const at::Tensor x = at::randn({1001}, at::TensorOptions().dtype(at::kFloat)).mul_(300);
  for (RoundingPath path : kPaths)
    for (c10::ScalarType dtype : {at::kHalf, at::kBFloat16}) {
      at::Tensor rounded = x.clone();
      round_in_place(rounded.data_ptr<float>(), rounded.numel(), dtype, path);
      EXPECT_TRUE(at::equal(rounded, x.to(dtype).to(at::kFloat))) << c10::toString(dtype);
    }
}

TEST(ReducedPrecisionRounding, FloatIsLeftAsItIsAndOtherDtypesAreRefused) {
  std::vector<float> v = {0.1f, 1.0f / 3.0f, 1e-40f};
  const std::vector<float> before = v;
  round_in_place(v.data(), 3, at::kFloat);
  EXPECT_EQ(v, before);
  EXPECT_THROW(round_in_place(v.data(), 3, at::kDouble), std::invalid_argument);
}

}  // namespace
}  // namespace oft::sdk
