#!/usr/bin/env python
"""Golden data for the eetq backend plugin. FORMAT-DERIVED, NOT MADE BY THE LIBRARY: no EETQ code can run on
a CPU-only machine (the only PyPI wheel is cp310 + CUDA sm_86; transformers 5.24 fetches its EETQ kernels
from the Hugging Face Hub and refuses to load without CUDA; the preprocessing asks the GPU for its SM
version). So this is a numpy transcription of the C++ that writes an EETQ checkpoint:

  symmetric_quantize                 FasterTransformer / TensorRT-LLM cutlass_preprocessors.cc, which EETQ's
                                     csrc/cutlass_kernels/fpA_intB_gemm_wrapper.cu calls (quant_weights):
                                     per column of W^T, m = max|w| * (1/128) as float, scale = m in the weight
                                     dtype, code = clamp(round(w / m), -128, 127) with C's round (half away
                                     from zero) on the float quotient.
  preprocess_weights_for_mixed_gemm  EETQ csrc/cutlass_kernels/cutlass_preprocessors.cc (NetEase-FuXi/EETQ
                                     4750aa47), for arch 80 (SM 80-89; SM 75 has the same layout for int8):
                                     permute_B_rows_for_mixed_gemm, subbyte_transpose,
                                     interleave_column_major_tensor (ColumnMajorTileInterleave<64, 2>),
                                     add_bias_and_interleave_int8s_inplace.

The loops are transcribed step by step, then cross-checked against the closed form of
the layout (byte offset per (k, n), for several shapes) and hand-computed offsets and byte values; the script stops if any
disagrees. The forward is what EETQ's kernel computes up to summation order: W[n,k] = q[k,n] * scale[n]
rounded to the scale dtype (the kernel dequantizes in fp16), x @ W^T in fp32, + bias, rounded to the dtype.

Run from the repository root (numpy only, requirements/golden-eetq.txt):

    .venv/bin/python tests/golden/gen_eetq.py       # writes tests/golden/data/eetq/eetq_layers.safetensors

Per case:
  <case>/weight_float   (out, in) the float weight the checkpoint was made from (fp16 or fp32)
  <case>/weight         int8 (in, out) EETQ's preprocessed bytes, as EetqLinear stores "weight"
  <case>/codes          int8 (in, out) the plain codes q[k, n] before preprocessing
  <case>/weight_scales  (out) fp16 or fp32, the dtype of the float weight
  <case>/bias           (out), only in cases with a bias
  <case>/x, y           input (3, in) and the forward output, in the case's dtype
Metadata "cases": name, in/out features, dtype, bias, quantization_config (transformers' EetqConfig.to_dict()).
Metadata "versions": numpy, python, the sources transcribed, and the closed-form cross-check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct

import numpy as np

QUANTIZATION_CONFIG = {"modules_to_not_convert": None, "quant_method": "eetq", "weights": "int8"}
PERMUTATION = [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15]  # permute_B_rows_for_mixed_gemm, int8
ROWS_PER_TILE, COLUMNS_INTERLEAVED = 64, 2  # arch 80: ColumnMajorTileInterleave<64, 2>


def c_round(q: np.ndarray) -> np.ndarray:
    """C's round(): half away from zero (numpy's rounds half to even). Exact in float64 for float32 input."""
    q = q.astype(np.float64)
    return np.where(q >= 0, np.floor(q + 0.5), np.ceil(q - 0.5))


def symmetric_quantize(weight_kn: np.ndarray):
    """weight_kn: W^T (K rows, N columns), fp16 or fp32. Returns int8 codes (K, N) and scales (N) in its dtype."""
    w = weight_kn.astype(np.float32)
    per_col_max = np.abs(w).max(axis=0).astype(np.float32) * np.float32(1.0 / 128)
    scales = per_col_max.astype(weight_kn.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = c_round(w / per_col_max)  # float32 division, as in the C++
    # std::max(-128.f, std::min(127.f, v)): a NaN (0/0 in an all-zero column) comes out as 127.
    clipped = np.where(np.isnan(scaled), 127.0, np.clip(scaled, -128, 127))
    return clipped.astype(np.int8), scales


def permute_rows(q: np.ndarray) -> np.ndarray:
    """permute_B_rows_for_mixed_gemm: output row t of each 16-row group takes input row
    8*((t%4)/2) + t%2 + 2*(t/4). Moving 4-byte units of a row moves the whole row."""
    k, _ = q.shape
    assert k % 16 == 0
    out = np.empty_like(q)
    for base in range(0, k, 16):
        for t in range(16):
            read = 8 * ((t % 4) // 2) + t % 2 + 2 * (t // 4)
            assert read == PERMUTATION[t]
            out[base + t] = q[base + read]
    return out


def subbyte_transpose(q: np.ndarray) -> np.ndarray:
    """subbyte_transpose_impl<INT8>: 64 x 64 byte tiles, each transposed in a cache buffer; the output is
    (N, K) row-major, i.e. the (K, N) matrix in column-major order."""
    k, n = q.shape
    assert k % 32 == 0 and n % 32 == 0
    out = np.empty((n, k), dtype=q.dtype)
    for row_tile in range(0, k, 64):
        for col_tile in range(0, n, 64):
            cache = np.zeros((64, 64), dtype=q.dtype)
            block = q[row_tile:row_tile + 64, col_tile:col_tile + 64]
            cache[:block.shape[0], :block.shape[1]] = block
            cache = cache.T.copy()  # the ii < jj swap loop
            rows, cols = min(64, n - col_tile), min(64, k - row_tile)
            out[col_tile:col_tile + rows, row_tile:row_tile + cols] = cache[:rows, :cols]
    return out


def interleave_column_major(column_major: np.ndarray, k: int, n: int) -> np.ndarray:
    """interleave_column_major_tensor on 32-bit words: column read_col's words go to column read_col/2 of
    twice the length, in tiles of 16 words (64 rows), the two columns' tiles alternating."""
    assert k % 4 == 0 and n % ROWS_PER_TILE == 0
    words_in = column_major.reshape(-1).view(np.uint32)
    words_out = np.zeros_like(words_in)
    num_vec_rows = k // 4
    vec_rows_per_tile = ROWS_PER_TILE // 4
    interleave = COLUMNS_INTERLEAVED
    for read_col in range(n):
        write_col = read_col // interleave
        for base_vec_row in range(0, num_vec_rows, vec_rows_per_tile):
            for vec_read_row in range(base_vec_row, min(num_vec_rows, base_vec_row + vec_rows_per_tile)):
                vec_write_row = (interleave * base_vec_row + vec_rows_per_tile * (read_col % interleave) +
                                 vec_read_row % vec_rows_per_tile)
                read_offset = read_col * num_vec_rows + vec_read_row
                write_offset = write_col * num_vec_rows * interleave + vec_write_row
                words_out[write_offset] = words_in[read_offset]
    return words_out.view(np.int8)


def add_bias_and_interleave_int8s(flat: np.ndarray) -> np.ndarray:
    """+128 to every byte (int8 wrap-around), then swap bytes 1 and 2 of every 4-byte group."""
    assert flat.size % 4 == 0
    biased = (flat.astype(np.int16) + 128).astype(np.uint8).view(np.int8)
    groups = biased.reshape(-1, 4).copy()
    groups[:, [1, 2]] = groups[:, [2, 1]]
    return groups.reshape(-1)


def preprocess_arch80(q: np.ndarray) -> np.ndarray:
    """preprocess_weights_for_mixed_gemm(INT8_WEIGHT_ONLY, arch 80): codes (K, N) -> stored bytes (K, N)."""
    k, n = q.shape
    permuted = permute_rows(q)  # uses_imma_ldsm (OpMultiplyAddDequantizeInterleavedBToA) on SM 75-89
    column_major = subbyte_transpose(permuted)  # layoutB COLUMN_MAJOR
    interleaved = interleave_column_major(column_major, k, n)  # columns_interleaved 2
    return add_bias_and_interleave_int8s(interleaved).reshape(k, n)


def closed_form_offsets(k: int, n: int) -> np.ndarray:
    """Closed form: the byte offset of logical q[k, n] in the stored tensor."""
    inverse = [0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15]
    kk, nn = np.meshgrid(np.arange(k), np.arange(n), indexing="ij")
    permuted = 16 * (kk // 16) + np.array(inverse)[kk % 16]
    r, b = permuted // 4, permuted % 4
    word = (nn // 2) * (k // 2) + 32 * (r // 16) + 16 * (nn % 2) + (r % 16)
    return 4 * word + np.array([0, 2, 1, 3])[b]


def closed_form(q: np.ndarray) -> np.ndarray:
    stored = np.empty(q.size, dtype=np.uint8)
    stored[closed_form_offsets(*q.shape).reshape(-1)] = (q.astype(np.int16) + 128).astype(np.uint8).reshape(-1)
    return stored.view(np.int8).reshape(q.shape)


def check_against_the_spec(rng: np.random.Generator) -> list:
    """The loops against the closed form and hand-computed vectors; raises on any difference."""
    shapes = [(64, 64), (128, 192), (256, 128), (64, 128), (128, 64), (192, 320)]
    for k, n in shapes:
        q = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        assert np.array_equal(preprocess_arch80(q), closed_form(q)), f"loops != closed form for {(k, n)}"
    offsets = closed_form_offsets(64, 64)
    vectors = {(0, 0): 0, (1, 0): 2, (8, 0): 1, (2, 0): 4, (4, 0): 8, (16, 0): 16, (63, 0): 63, (0, 1): 64,
               (0, 2): 128, (5, 3): 202, (63, 63): 4095}
    for (k, n), offset in vectors.items():
        assert offsets[k, n] == offset, f"offset of {(k, n)}: {offsets[k, n]} != {offset}"
        one = np.zeros((64, 64), dtype=np.int8)
        one[k, n] = 1
        assert np.flatnonzero(preprocess_arch80(one).reshape(-1) == -127).tolist() == [offset]  # 1 + 128 = 0x81
    for code, byte in {-128: 0x00, -3: 0x7D, 0: 0x80, 127: 0xFF}.items():
        stored = preprocess_arch80(np.full((64, 64), code, dtype=np.int8))
        assert (stored.view(np.uint8) == byte).all(), f"code {code}"
    column = np.zeros((64, 64), dtype=np.float16)
    column[:4, 0] = [1.0, 0.01171875, 0.01953125, -1.0]  # max 1, 1.5 and 2.5 steps, -max
    codes, scales = symmetric_quantize(column)
    assert scales[0] == np.float16(0.0078125) and codes[:4, 0].tolist() == [127, 2, 3, -128]
    return shapes


def forward(x: np.ndarray, codes: np.ndarray, scales: np.ndarray, bias) -> np.ndarray:
    weight_kn = (codes.astype(np.float32) * scales.astype(np.float32)).astype(scales.dtype).astype(np.float32)
    y = x.astype(np.float32) @ weight_kn
    if bias is not None:
        y = y + bias.astype(np.float32)
    return y.astype(x.dtype)


def make_weight(rng, out_features, in_features, dtype, planted: bool) -> np.ndarray:
    """Rows of uneven magnitude; with `planted`, row 0 holds the spec's rounding cases, row 1 is tiny
    (its fp16 scale is subnormal) and row 2's largest magnitude is negative (code -128)."""
    w = rng.standard_normal((out_features, in_features)) * (0.02 + 0.1 * rng.random((out_features, 1)))
    if planted:
        w[0] = rng.uniform(-0.009, 0.009, in_features)
        w[0, :5] = [1.0, 0.01171875, 0.01953125, -0.01171875, -1.0]
        w[1] *= 1e-3
        w[2, 7] = -4 * np.abs(w[2]).max()
    return w.astype(dtype)


# name, in_features (K), out_features (N), dtype, bias
CASES = [
    ("fp16_bias_k64_n128", 64, 128, np.float16, True),
    ("fp32_k128_n64", 128, 64, np.float32, False),
]


def run_case(rng, name, k, n, dtype, bias):
    weight = make_weight(rng, n, k, dtype, planted=True)
    codes, scales = symmetric_quantize(np.ascontiguousarray(weight.T))
    tensors = {
        "weight_float": weight,
        "weight": preprocess_arch80(codes),
        "codes": codes,
        "weight_scales": scales,
    }
    b = (rng.standard_normal(n) * 0.1).astype(dtype) if bias else None
    if b is not None:
        tensors["bias"] = b
    x = rng.standard_normal((3, k)).astype(dtype)
    tensors["x"], tensors["y"] = x, forward(x, codes, scales, b)
    meta = {"name": name, "in_features": k, "out_features": n, "dtype": np.dtype(dtype).name, "bias": bias,
            "quantization_config": QUANTIZATION_CONFIG, "layout": "arch 80 (SM 80-89)", "provenance": "format-derived"}
    return meta, {f"{name}/{key}": value for key, value in tensors.items()}


def save_safetensors(path: str, tensors: dict, metadata: dict) -> None:
    codes = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.int8): "I8"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "eetq"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    checked_shapes = check_against_the_spec(rng)
    tensors, metas = {}, []
    for case in CASES:
        meta, t = run_case(rng, *case)
        metas.append(meta)
        tensors.update(t)
    versions = {
        "provenance": "format-derived: numpy transcription of EETQ's C++ (no EETQ code can run without CUDA)",
        "numpy": np.__version__,
        "python": platform.python_version(),
        "transcribed": "EETQ csrc/cutlass_kernels/cutlass_preprocessors.cc (NetEase-FuXi/EETQ 4750aa47), arch 80; "
                       "symmetric_quantize from FasterTransformer/TensorRT-LLM cutlass_preprocessors.cc",
        "closed_form_agrees_for": [list(s) for s in checked_shapes],
    }
    path = os.path.join(args.out, "eetq_layers.safetensors")
    save_safetensors(path, tensors, {"generator": "tests/golden/gen_eetq.py", "versions": json.dumps(versions),
                                     "cases": json.dumps(metas)})
    os.chmod(path, 0o644)
    print(f"wrote {path} ({os.path.getsize(path)} bytes); loops == closed form for {checked_shapes}")


if __name__ == "__main__":
    main()
