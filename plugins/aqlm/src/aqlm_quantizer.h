#pragma once
// A native AQLM quantizer (the PyPI package ships none): additive quantization of a float weight for a given
// configuration, after Egiazarian et al. 2024 (AQLM), simplified:
//   1. scales: one per output group, the RMS of its weights; the rest works on W / scale;
//   2. residual k-means: codebook c is k-means (Lloyd) on what codebooks 0..c-1 leave unexplained;
//   3. `epochs` rounds of
//      a. codebooks by least squares with the codes fixed (preconditioned conjugate gradient),
//      b. scales by least squares (closed form per output group),
//      c. codes by beam search: for each input group in turn and for every output group at once, search the
//         codebooks one after another keeping the `beam_size` best code tuples;
//   4. codebooks and scales rounded to the storage dtype, then one more code search for those values.
// Every step minimizes the calibration-weighted error tr((Ŵ - W) H (Ŵ - W)^T) with H = X^T X / rows when
// calibration inputs X are given, and the plain squared error (H = I) otherwise; no step makes it worse
// except the final rounding to the storage dtype.
//
// Cost for an N x K weight, Q = 2^B codewords, C codebooks, beam b, E epochs, I k-means / CG iterations:
//   k-means  C * I * (N*K/ig) * Q * og*ig  (the distance matmul)
//   codes    E * C * b * Q * N*K            (+ E * N*K^2 with calibration)
//   codebooks E * I * N*K*C                 (+ E * I * N*K^2 with calibration)
// Fine on CPU for 2^8 codebooks up to LLaMA-sized layers (minutes); 2^16 codebooks (1x16) multiply the code
// search by 256 and suit small layers only.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "aqlm_config.h"

namespace oft::aqlm {

struct AqlmWeights {
  at::Tensor codes;      // int64 [N/og, K/ig, C] in [0, 2^B)
  at::Tensor codebooks;  // [C, 2^B, og, ig] in the storage dtype
  at::Tensor scales;     // [N/og, 1, 1, 1] in the storage dtype
};

// weight (N, K) float; calibration (rows, K) or undefined; storage: the codebooks' and scales' dtype.
AqlmWeights quantize_aqlm(const at::Tensor& weight, const at::Tensor& calibration, const AqlmConfig& config,
                          const QuantizerOptions& options, c10::ScalarType storage);

// tr((Ŵ - W) H (Ŵ - W)^T) (H = I when calibration is undefined), the objective the quantizer minimizes.
double weighted_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& calibration);

}  // namespace oft::aqlm
