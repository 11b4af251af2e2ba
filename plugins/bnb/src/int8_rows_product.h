#pragma once
// The exact int32 products of a few int8 rows (the quantized activations of a few tokens) with every row of an int8
// weight, on x86 CPUs with AVX2: sixteen codes at a time widened to int16 and multiplied pairwise into int32 lanes
// (vpmaddwd), summed in int32; where the CPU has AVX-512BW thirty-two codes at a time. Integer sums are exact, so the
// result equals any other exact product's (the tiled fp32 GEMMs over chunks of 1024 columns in int8_math.cpp) bit for
// bit, whatever the order; nothing is converted to fp32, so the weight's bytes are read once, four times fewer than its
// fp32 tiles.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "oft/sdk/products_in_16_lanes.h"

namespace oft::bnb {

// Up to this many rows of activations the product runs here (as many as take the tiled fp32 GEMMs on other CPUs).
// Measured at 4096x4096 (bench_bnb, 2 / 1 threads): 64 rows 11.0 vs 17.0 ms tiled / 21.2 vs 34.4 ms; 128 rows
// 21.7 / 45.6 ms against 32.2 / 55.5 ms for the whole-weight fp32 GEMMs at 129.
constexpr int64_t kInt8RowsProductMaxRows = 128;

// Whether int8_rows_product applies: 1 to kInt8RowsProductMaxRows rows, at most kInt8RowsProductMaxColumns
// columns (int32 sums cannot overflow), and a CPU with AVX2.
constexpr int64_t kInt8RowsProductMaxColumns = (int64_t{1} << 17) - 1;  // (2^17 - 1) · 128² < 2^31
bool int8_rows_product_applies(int64_t rows, int64_t columns);

// Whether int8_rows_product(..., lanes) takes sixteen int32 lanes: where `lanes` allows it and the CPU has AVX-512F
// and AVX-512BW.
bool int8_rows_product_takes_16_lanes(sdk::ProductLanes lanes);

// a int8 (rows, k) and b int8 (n, k), both contiguous. Returns int32 (rows, n) = a · bᵀ, exactly (whichever path);
// int8_rows_product_applies must hold.
at::Tensor int8_rows_product(const at::Tensor& a, const at::Tensor& b,
                             sdk::ProductLanes lanes = sdk::ProductLanes::kWidest);

}  // namespace oft::bnb
