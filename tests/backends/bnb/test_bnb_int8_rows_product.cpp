// The exact int32 product of a few int8 activation rows with an int8 weight (int8_rows_product.h) against an int64
// product: equal, on each x86 path (sixteen int16 lanes with AVX2, thirty-two where the CPU has AVX-512BW), for row
// counts that fill and do not fill a pass, columns past the last sixteen / thirty-two, and the largest sums the column
// limit allows; where it applies; bad operands.
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "int8_rows_product.h"

namespace oft::bnb::test {
namespace {

bool cpu_has_the_int8_rows_product() { return int8_rows_product_applies(1, 64); }

// The paths this CPU runs.
std::vector<sdk::ProductLanes> paths_here() {
  std::vector<sdk::ProductLanes> paths{sdk::ProductLanes::kEight};
  if (int8_rows_product_takes_16_lanes(sdk::ProductLanes::kWidest)) paths.push_back(sdk::ProductLanes::kWidest);
  return paths;
}

at::Tensor exact_product(const at::Tensor& a, const at::Tensor& b) {
  return at::matmul(a.to(at::kLong), b.to(at::kLong).t());
}

TEST(BnbInt8RowsProduct, EqualsTheExactProduct) {
  if (!cpu_has_the_int8_rows_product()) GTEST_SKIP() << "this CPU lacks AVX2: the int8 rows product does not run here";
  at::manual_seed(51);
  const at::Tensor b = at::randint(-128, 128, {37, 300}).to(at::kChar);  // 300: 18 groups of 16 (9 of 32), then 12
  for (const sdk::ProductLanes lanes : paths_here())
    for (const int64_t rows : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{5}, int64_t{17}, kInt8RowsProductMaxRows}) {
      const at::Tensor a = at::randint(-128, 128, {rows, 300}).to(at::kChar);
      const at::Tensor y = int8_rows_product(a, b, lanes);
      EXPECT_EQ(y.scalar_type(), at::kInt);
      EXPECT_TRUE(at::equal(y.to(at::kLong), exact_product(a, b)))
          << rows << " rows, " << (lanes == sdk::ProductLanes::kEight ? "AVX2" : "AVX-512BW");
    }
}

TEST(BnbInt8RowsProduct, HoldsTheLargestSumsWithinTheColumnLimit) {
  if (!cpu_has_the_int8_rows_product()) GTEST_SKIP() << "this CPU lacks AVX2: the int8 rows product does not run here";
  const int64_t k = kInt8RowsProductMaxColumns;
  const at::Tensor a = at::full({2, k}, -128, at::kChar), b = at::full({3, k}, -128, at::kChar);
  for (const sdk::ProductLanes lanes : paths_here())
    EXPECT_TRUE(at::equal(int8_rows_product(a, b, lanes).to(at::kLong), at::full({2, 3}, k * 128 * 128, at::kLong)));
  EXPECT_FALSE(int8_rows_product_applies(1, k + 1));
}

TEST(BnbInt8RowsProduct, AppliesToFewRows) {
  if (!cpu_has_the_int8_rows_product()) GTEST_SKIP() << "this CPU lacks AVX2: the int8 rows product does not run here";
  EXPECT_TRUE(int8_rows_product_applies(kInt8RowsProductMaxRows, 4096));
  EXPECT_FALSE(int8_rows_product_applies(0, 4096));
  EXPECT_FALSE(int8_rows_product_applies(kInt8RowsProductMaxRows + 1, 4096));
}

TEST(BnbInt8RowsProduct, RefusesOperandsItCannotRead) {
  const at::Tensor b = at::zeros({4, 32}, at::kChar);
  try {
    int8_rows_product(at::zeros({2, 32}, at::kFloat), b);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("does not apply to 2 rows of int8 activations"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace oft::bnb::test
