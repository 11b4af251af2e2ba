// Both ways of dequantizing a row of FP8 codes (the table, and x86's eight lanes through fp16 where the CPU has
// AVX2 and F16C) give LibTorch's hp(fp32(code) * scale) for every byte of both FP8 formats and every scale dtype.
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "inc_fp8_rows.h"

namespace oft::inc::test {
namespace {

// Every byte, then 5 more so the eight-lane path's last codes go through its tail.
std::vector<uint8_t> every_byte_and_a_tail() {
  std::vector<uint8_t> codes(261);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  for (int b = 0; b < 256; ++b) codes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  return codes;
}

// Scales as a loaded scale tensor holds them (values of its dtype): ordinary, tiny (fp16 subnormal products),
// huge (products that overflow fp16), negative and zero.
at::Tensor scales_in(c10::ScalarType dtype, int64_t count) {
  at::manual_seed(3);
  at::Tensor s = at::rand({count}) * 0.01 + 1e-4;
  s.index_put_({at::indexing::Slice(0, count, 7)}, 3e-7);
  s.index_put_({at::indexing::Slice(1, count, 11)}, 250.0);
  s.index_put_({at::indexing::Slice(2, count, 13)}, -0.5);
  s.index_put_({at::indexing::Slice(3, count, 17)}, 0.0);
  return s.to(dtype).to(at::kFloat);
}

// Equal bits, or both NaN (rounding a NaN to bf16 keeps its payload here and not in LibTorch's conversion).
void expect_same_values(const std::vector<float>& actual, const at::Tensor& expected, const std::string& what) {
  const float* e = expected.const_data_ptr<float>();
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::isnan(actual[i]) && std::isnan(e[i])) continue;
    uint32_t a_bits, e_bits;
    std::memcpy(&a_bits, &actual[i], 4);
    std::memcpy(&e_bits, &e[i], 4);
    ASSERT_EQ(a_bits, e_bits) << what << ", element " << i << ": " << actual[i] << " vs " << e[i];
  }
}

TEST(IncFp8Rows, BothPathsGiveLibTorchsValuesForEveryByte) {
  const std::vector<uint8_t> codes = every_byte_and_a_tail();
  const auto count = static_cast<int64_t>(codes.size());
  const at::Tensor bytes = at::from_blob(const_cast<uint8_t*>(codes.data()), {count}, at::kByte);
  for (c10::ScalarType fp8 : {at::kFloat8_e4m3fn, at::kFloat8_e5m2})
    for (c10::ScalarType round_to : {at::kFloat, at::kHalf, at::kBFloat16}) {
      const at::Tensor scales = scales_in(round_to, count);
      const at::Tensor expected = (bytes.view(fp8).to(at::kFloat) * scales).to(round_to).to(at::kFloat);
      for (sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
        std::vector<float> out(codes.size());
        dequantize_fp8_rows(codes.data(), count, 1, count, scales.const_data_ptr<float>(), {fp8, round_to, path},
                            out.data());
        expect_same_values(out, expected,
                           std::string(c10::toString(fp8)) + " to " + c10::toString(round_to) +
                               (path == sdk::RoundingPath::kPortable ? ", table" : ", fastest"));
      }
    }
}

// A tile: 21 columns from column 5 of 40 rows 50 codes long (more rows than are prefetched ahead).
TEST(IncFp8Rows, BothPathsReadStridedRows) {
  at::manual_seed(4);
  const at::Tensor codes = at::randint(0, 256, {40, 50}, at::kInt).to(at::kByte);
  const at::Tensor scales = scales_in(at::kBFloat16, 50).narrow(0, 5, 21).contiguous();
  const at::Tensor tile = codes.narrow(1, 5, 21);
  const at::Tensor expected =
      (tile.contiguous().view(at::kFloat8_e4m3fn).to(at::kFloat) * scales).to(at::kBFloat16).to(at::kFloat);
  for (sdk::RoundingPath path : {sdk::RoundingPath::kFastest, sdk::RoundingPath::kPortable}) {
    std::vector<float> out(40 * 21);
    dequantize_fp8_rows(tile.const_data_ptr<uint8_t>(), 50, 40, 21, scales.const_data_ptr<float>(),
                        {at::kFloat8_e4m3fn, at::kBFloat16, path}, out.data());
    expect_same_values(out, expected.reshape({-1}), path == sdk::RoundingPath::kPortable ? "table" : "fastest");
  }
}

TEST(IncFp8Rows, OtherDtypesAreRefused) { EXPECT_THROW(fp8_values(at::kByte), std::invalid_argument); }

}  // namespace
}  // namespace oft::inc::test
