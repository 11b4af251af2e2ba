// The plain-loop dequantization (aqlm_dequant_rows.h) against the LibTorch reference that follows aqlm's steps
// (dequantize_float): the same bits for each codebook dtype and layout (1x16, 2x8, output groups of 2, input groups
// of 4), whole and from an output group in the middle, with codewords of -0 and values at bf16 ties.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "aqlm_codes.h"
#include "aqlm_dequant_rows.h"

namespace oft::aqlm::test {
namespace {

struct BookLayout {
  int64_t codebooks, nbits, out_group, in_group;
};

TEST(AqlmDequantRows, GiveTheReferencesBits) {
  const int64_t n = 16, k = 64;
  for (const BookLayout l :
       {BookLayout{1, 16, 1, 8}, BookLayout{2, 8, 1, 8}, BookLayout{2, 8, 2, 8}, BookLayout{3, 6, 2, 4}})
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(std::to_string(l.codebooks) + "x" + std::to_string(l.nbits) + " og " + std::to_string(l.out_group) +
                   " ig " + std::to_string(l.in_group) + ", " + c10::toString(dtype));
      at::manual_seed(l.nbits + l.out_group);
      const int64_t entries = int64_t{1} << l.nbits, groups = n / l.out_group;
      at::Tensor books = at::randn({l.codebooks, entries, l.out_group, l.in_group});
      books.view(-1)[0] = -0.f;
      books.view(-1)[1] = 1.00390625f;  // 1 + 2^-8: a bf16 tie
      books = books.to(dtype);
      at::Tensor codes = at::randint(0, entries, {groups, k / l.in_group, l.codebooks}, at::kLong);
      codes[0][0].fill_(0);  // the first codewords of every book, the -0 and the tie among them
      const at::Tensor scales = (at::rand({groups, 1, 1, 1}) + 0.5).to(dtype);
      const at::Tensor expected = dequantize_float(codes, books, scales);

      const at::Tensor stored = pack_codes(codes, l.nbits).contiguous();
      const at::Tensor float_books = books.to(at::kFloat).contiguous(),
                       float_scales = scales.to(at::kFloat).contiguous();
      const CodebookWeights w = codebook_weights(stored, l.nbits, float_books, float_scales, dtype);
      at::Tensor whole = at::empty({n, k});
      dequantize_groups_into(w, 0, groups, whole.data_ptr<float>());
      EXPECT_TRUE(at::equal(whole, expected));
      EXPECT_EQ(at::signbit(whole).sum().item<int64_t>(), at::signbit(expected).sum().item<int64_t>());
      at::Tensor part = at::empty({2 * l.out_group, k});
      dequantize_groups_into(w, 3, 2, part.data_ptr<float>());
      EXPECT_TRUE(at::equal(part, expected.narrow(0, 3 * l.out_group, 2 * l.out_group)));
    }
}

TEST(AqlmDequantRows, RefuseWhatTheyCannotRead) {
  const at::Tensor books = at::zeros({1, 256, 1, 8}), scales = at::ones({2});
  EXPECT_THROW(codebook_weights(at::zeros({2, 1, 1}, at::kLong), 8, books, scales, at::kFloat), std::invalid_argument);
  EXPECT_THROW(codebook_weights(at::zeros({2, 1, 1}, at::kChar), 8, books.to(at::kHalf), scales, at::kHalf),
               std::invalid_argument);
  EXPECT_THROW(codebook_weights(at::zeros({3, 1, 1}, at::kChar), 8, books, scales, at::kFloat), std::invalid_argument);
}

}  // namespace
}  // namespace oft::aqlm::test
