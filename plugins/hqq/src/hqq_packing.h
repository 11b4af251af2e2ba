#pragma once
// hqq's bit packing (hqq/core/bitpack.py): a (rows, cols) code matrix is split along dim 0 into equal
// planes that share one packed element each; the first plane sits in the most significant bits.
// "8bit_u8" stores bytes as they are, "4bit_u8" 2 planes per byte, "2bit_u8" 4, "1bit_u8" 8, and
// "3bit_32" 10 planes per int32 (rows zero-padded to a multiple of 10, bits 30-31 unused).
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace oft::hqq {

// Whether `packing` is one of the five names above.
bool is_known_packing(const std::string& packing);
// uint8 for the byte packings, int32 for "3bit_32" (hqq's unpack_view_dtype).
at::ScalarType packed_dtype(const std::string& packing);
// The packed row count for `rows` code rows (rows must divide into the planes, except for 3-bit).
int64_t packed_rows(const std::string& packing, int64_t rows);
// Codes per packed element (10 for "3bit_32").
int64_t planes(const std::string& packing);
// Bits per code (3 for "3bit_32", else 8 / planes).
int64_t code_bits(const std::string& packing);

// codes: (rows, cols) integer-valued tensor (any dtype) with values in range for the packing.
at::Tensor pack(const at::Tensor& codes, const std::string& packing);
// The (planes * packed rows, cols) codes in `dtype` (for "3bit_32" including the zero padding).
at::Tensor unpack(const at::Tensor& packed, const std::string& packing, at::ScalarType dtype);
// Rows [begin, end) of unpack's result, reading only the packed rows they come from.
at::Tensor unpack_rows(const at::Tensor& packed, const std::string& packing, at::ScalarType dtype, int64_t begin,
                       int64_t end);

}  // namespace oft::hqq
