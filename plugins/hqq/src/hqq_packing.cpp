#include "hqq_packing.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>

#include "hqq_dequant_math.h"

namespace oft::hqq {

bool is_known_packing(const std::string& packing) {
  return packing == "8bit_u8" || packing == "4bit_u8" || packing == "3bit_32" || packing == "2bit_u8" ||
         packing == "1bit_u8";
}

int64_t planes(const std::string& packing) {
  if (packing == "8bit_u8") return 1;
  if (packing == "4bit_u8") return 2;
  if (packing == "3bit_32") return 10;
  if (packing == "2bit_u8") return 4;
  if (packing == "1bit_u8") return 8;
  throw std::invalid_argument("hqq: unknown packing \"" + packing +
                              "\" (expected 8bit_u8, 4bit_u8, 3bit_32, 2bit_u8 or 1bit_u8)");
}

int64_t code_bits(const std::string& packing) { return packing == "3bit_32" ? 3 : 8 / planes(packing); }

at::ScalarType packed_dtype(const std::string& packing) { return packing == "3bit_32" ? at::kInt : at::kByte; }

int64_t packed_rows(const std::string& packing, int64_t rows) {
  const int64_t n = planes(packing);
  if (packing != "3bit_32" && rows % n != 0)
    throw std::invalid_argument("hqq: " + std::to_string(rows) + " code rows do not split into the " +
                                std::to_string(n) + " planes of packing \"" + packing + "\"");
  return math::packed_rows(rows, n);
}

at::Tensor pack(const at::Tensor& codes, const std::string& packing) {
  const int64_t n = planes(packing), rows = packed_rows(packing, codes.size(0)), bits = code_bits(packing);
  at::Tensor padded = codes;
  if (packing == "3bit_32") {
    padded = at::zeros({rows * n, codes.size(1)}, codes.options().dtype(at::kInt));
    padded.slice(0, 0, codes.size(0)).copy_(codes);
  } else {
    padded = codes.to(at::kByte);
  }
  // First plane in the most significant bits.
  const auto shift = [&](int64_t plane) { return int64_t{math::plane_shift(plane, n, static_cast<uint32_t>(bits))}; };
  at::Tensor packed = padded.slice(0, 0, rows).bitwise_left_shift(shift(0));
  for (int64_t p = 1; p < n; ++p)
    packed.bitwise_or_(padded.slice(0, p * rows, (p + 1) * rows).bitwise_left_shift(shift(p)));
  return packed;
}

at::Tensor unpack(const at::Tensor& packed, const std::string& packing, at::ScalarType dtype) {
  return unpack_rows(packed, packing, dtype, 0, planes(packing) * packed.size(0));
}

at::Tensor unpack_rows(const at::Tensor& packed, const std::string& packing, at::ScalarType dtype, int64_t begin,
                       int64_t end) {
  const int64_t n = planes(packing), rows = packed.size(0), bits = code_bits(packing);
  const int64_t mask = (int64_t{1} << bits) - 1;
  at::Tensor out = at::empty({end - begin, packed.size(1)}, packed.options().dtype(dtype));
  for (int64_t p = 0; p < n; ++p) {  // plane p holds code rows [p * rows, (p + 1) * rows)
    const int64_t low = std::max(begin, p * rows), high = std::min(end, (p + 1) * rows);
    if (low >= high) continue;
    out.slice(0, low - begin, high - begin)
        .copy_(packed.slice(0, low - p * rows, high - p * rows)
                   .bitwise_right_shift(int64_t{math::plane_shift(p, n, static_cast<uint32_t>(bits))})
                   .bitwise_and(mask));
  }
  return out;
}

}  // namespace oft::hqq
