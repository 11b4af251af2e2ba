// The native additive quantizer (the PyPI aqlm package ships none): its error against round-to-nearest at
// comparable bits per weight (all overheads counted: codebooks and scales for AQLM, scales and zero points
// for RTN), calibration weighting, monotone improvement over its initialisation, and determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include <ATen/ATen.h>

#include "aqlm_format.h"
#include "aqlm_quantizer.h"

namespace oft::aqlm::test {
namespace {

constexpr int64_t kOut = 256, kIn = 512;

// A weight with uneven row and column magnitudes, as trained layers have.
at::Tensor test_weight() {
  at::manual_seed(11);
  return at::randn({kOut, kIn}) * (0.5 + at::rand({kOut, 1})) * (0.5 + at::rand({1, kIn})) * 0.05;
}

// Asymmetric round-to-nearest in groups of 128 inputs (GPTQ/AWQ's layout: fp16 scale + bits-wide zero per group).
at::Tensor rtn(const at::Tensor& w, int bits) {
  const at::Tensor g = w.reshape({w.size(0), -1, 128});
  const at::Tensor lo = std::get<0>(g.min(-1, true)), hi = std::get<0>(g.max(-1, true));
  const double levels = std::pow(2.0, bits) - 1;
  const at::Tensor scale = ((hi - lo) / levels).clamp_min(1e-12);
  const at::Tensor zero = (-lo / scale).round();
  const at::Tensor q = (g / scale).round().add(zero).clamp(0, levels);
  return ((q - zero) * scale).reshape(w.sizes());
}
double rtn_bits(int bits) { return bits + (16.0 + bits) / 128.0; }

double aqlm_bits(const AqlmConfig& c) {
  const double weights = static_cast<double>(kOut * kIn);
  return c.code_bits_per_weight() +
         16.0 * static_cast<double>(c.num_codebooks * c.codebook_size() * c.out_group_size * c.in_group_size) /
             weights +
         16.0 * static_cast<double>(kOut / c.out_group_size) / weights;
}

double relative_error(const at::Tensor& w, const at::Tensor& q, const at::Tensor& x = {}) {
  return std::sqrt(weighted_error(w, q, x) / weighted_error(w, at::zeros_like(w), x));
}

at::Tensor aqlm(const at::Tensor& w, const std::string& options, const at::Tensor& x = {}) {
  return AqlmFormat().quantize(w, {}, options, x)->dense_weight().to(at::kFloat);
}

TEST(AqlmQuantizer, BeatsRoundToNearestAtTwoBitsPerWeight) {
  const at::Tensor w = test_weight();
  const std::string options = R"({"num_codebooks": 2, "nbits_per_codebook": 8, "in_group_size": 8})";
  const double bits = aqlm_bits(QuantizeSettings::from_options(options).config);
  const double e_aqlm = relative_error(w, aqlm(w, options));
  const double e_rtn2 = relative_error(w, rtn(w, 2)), e_rtn3 = relative_error(w, rtn(w, 3));
  std::cout << "AQLM 2x8 ig8 (" << bits << " bits/weight incl. codebooks): relative error " << e_aqlm << "\n"
            << "RTN 2-bit g128 (" << rtn_bits(2) << " bits/weight): " << e_rtn2 << "\n"
            << "RTN 3-bit g128 (" << rtn_bits(3) << " bits/weight): " << e_rtn3 << "\n";
  RecordProperty("aqlm_2x8_error", std::to_string(e_aqlm));
  RecordProperty("rtn2_error", std::to_string(e_rtn2));
  EXPECT_LT(e_aqlm, e_rtn2);  // at about the same budget (2.53 vs 2.14 bits), and clearly
  EXPECT_LT(e_aqlm, 0.75 * e_rtn2);
}

TEST(AqlmQuantizer, AgainstRoundToNearestAtFourBitsPerWeight) {
  const at::Tensor w = test_weight();
  const std::string options = R"({"num_codebooks": 2, "nbits_per_codebook": 8, "in_group_size": 4})";
  const double bits = aqlm_bits(QuantizeSettings::from_options(options).config);
  const double e_aqlm = relative_error(w, aqlm(w, options));
  const double e_rtn4 = relative_error(w, rtn(w, 4));
  std::cout << "AQLM 2x8 ig4 (" << bits << " bits/weight incl. codebooks): relative error " << e_aqlm << "\n"
            << "RTN 4-bit g128 (" << rtn_bits(4) << " bits/weight): " << e_rtn4 << "\n";
  RecordProperty("aqlm_2x8_ig4_error", std::to_string(e_aqlm));
  RecordProperty("rtn4_error", std::to_string(e_rtn4));
  EXPECT_LT(e_aqlm, e_rtn4);
}

TEST(AqlmQuantizer, CalibrationWeightingLowersTheOutputError) {
  const at::Tensor w = test_weight();
  at::manual_seed(12);
  const at::Tensor x = at::randn({1024, kIn}) * (0.1 + 3 * at::rand({kIn}).pow(4));  // a few loud inputs
  const std::string options = R"({"num_codebooks": 1, "nbits_per_codebook": 8, "in_group_size": 8})";
  const double plain = relative_error(w, aqlm(w, options), x);
  const double weighted = relative_error(w, aqlm(w, options, x), x);
  std::cout << "AQLM 1x8 ig8 output error on X: unweighted " << plain << ", X^T X-weighted " << weighted << "\n";
  EXPECT_LT(weighted, 0.9 * plain);
}

TEST(AqlmQuantizer, EpochsImproveOnTheKMeansInitialisation) {
  const at::Tensor w = test_weight().slice(0, 0, 64).slice(1, 0, 128);
  for (const char* shape :
       {R"("num_codebooks": 2, "nbits_per_codebook": 6, "in_group_size": 8)",
        R"("num_codebooks": 1, "nbits_per_codebook": 8, "in_group_size": 4, "out_group_size": 2)"}) {
    SCOPED_TRACE(shape);
    const std::string init = std::string("{") + shape + R"(, "epochs": 0})";
    const std::string fitted = std::string("{") + shape + R"(, "epochs": 3, "beam_size": 4})";
    const double e0 = relative_error(w, aqlm(w, init)), e3 = relative_error(w, aqlm(w, fitted));
    std::cout << shape << ": k-means init " << e0 << ", after 3 epochs " << e3 << "\n";
    EXPECT_LT(e3, e0);
  }
}

TEST(AqlmQuantizer, IsDeterministicForASeed) {
  const at::Tensor w = test_weight().slice(0, 0, 32).slice(1, 0, 64);
  const std::string options = R"({"num_codebooks": 2, "nbits_per_codebook": 4, "in_group_size": 8, "seed": 3})";
  auto a = std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().quantize(w, {}, options, {}));
  auto b = std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().quantize(w, {}, options, {}));
  EXPECT_TRUE(at::equal(a->codes(), b->codes()));
  EXPECT_TRUE(at::equal(a->codebooks(), b->codebooks()));
  // Storage follows the weight's dtype (the model dtype), codes the bit width.
  auto half = std::dynamic_pointer_cast<AqlmLinear>(AqlmFormat().quantize(w.to(at::kHalf), {}, options, {}));
  EXPECT_EQ(half->codebooks().scalar_type(), at::kHalf);
  EXPECT_EQ(half->scales().scalar_type(), at::kHalf);
  EXPECT_EQ(half->codes().scalar_type(), at::kChar);
  EXPECT_LT(relative_error(w, half->dense_weight().to(at::kFloat)), 0.5);
}

}  // namespace
}  // namespace oft::aqlm::test
