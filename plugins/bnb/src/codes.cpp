#include "codes.h"

#include <cmath>
#include <vector>

#include <ATen/ops/add.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/div.h>
#include <ATen/ops/linspace.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/tensor.h>

namespace oft::bnb {
namespace {

// NF4: quantiles of N(0, 1) normalised to [-1, 1], as bitsandbytes hard-codes them (float32).
constexpr std::array<float, 16> kNf4 = {
    -1.0f,          -0x1.647362p-1f, -0x1.0cd660p-1f, -0x1.946540p-2f, -0x1.23449ap-2f, -0x1.7a6a7ep-3f,
    -0x1.74f0e2p-4f, 0.0f,           0x1.45f5fep-4f,  0x1.4995c6p-3f,  0x1.f809bap-3f,  0x1.5a0674p-2f,
    0x1.c34970p-2f,  0x1.200f56p-1f,  0x1.722766p-1f,  1.0f};

// FP4 (bitsandbytes' own E2M1 variant): bit 3 is the sign, bits 2..0 pick a magnitude out of 12.
std::array<float, 16> make_fp4() {
  constexpr float kMagnitude[8] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f};
  std::array<float, 16> table{};
  for (int code = 0; code < 16; ++code) {
    const float m = kMagnitude[code & 7] / 12.0f;  // bnb divides the float32 table by its absmax, 12
    table[code] = (code & 8) ? -m : m;  // code 8 decodes to -0.0, as bnb's CPU and CUDA kernels give
  }
  return table;
}

}  // namespace

const std::array<float, 16>& code_table(QuantType type) {
  static const std::array<float, 16> fp4 = make_fp4();
  return type == QuantType::NF4 ? kNf4 : fp4;
}

at::Tensor quant_map(QuantType type) {
  std::vector<float> t(code_table(type).begin(), code_table(type).end());
  for (float& v : t) v += 0.0f;  // -0.0 + 0.0 = +0.0: get_4bit_type lists FP4's code 8 as the integer -0
  return at::tensor(t, at::kFloat);
}

at::Tensor dynamic_map() {
  // For exponent i in 0..6: 2^i + 1 evenly spaced points in [0.1, 1] (float32), the means of neighbours,
  // scaled by 10^(i-6), and their negatives; then 0 and 1; sorted. The same torch ops as bitsandbytes, so
  // the float32 rounding is the same.
  std::vector<at::Tensor> parts;
  for (int i = 0; i < 7; ++i) {
    const at::Tensor b = at::linspace(0.1, 1.0, (int64_t{1} << i) + 1, at::kFloat);
    const at::Tensor means = at::div(at::add(b.slice(0, 0, -1), b.slice(0, 1)), 2.0);
    const double scale = std::pow(10.0, i - 6);
    parts.push_back(at::mul(means, scale));
    parts.push_back(at::mul(means, -scale));
  }
  parts.push_back(at::tensor(std::vector<float>{0.0f, 1.0f}, at::kFloat));
  return std::get<0>(at::sort(at::cat(parts)));
}

}  // namespace oft::bnb
