"""oft's aqlm layer against aqlm's own QuantizedLinear on this CPU, in one run: each one's eval forward time over
a dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 2x8 and 1x16 codebooks over groups
of 8 inputs, 2 threads), for a few token counts each; then oft's ratio over aqlm's.

    .venv/bin/pip install -r requirements/bench-aqlm.txt
    .venv/bin/python bench/backends/aqlm/peer_forward.py [path/to/bench_aqlm]

aqlm runs its CPU kernel for 2^8-entry codebooks: numba's lookup-table GEMV, token by token, for up to 6 tokens
(it needs fp32 codebooks and input), and dequantize-then-matmul above and for 1x16. oft's side is
build/bin/bench_aqlm's BM_AqlmVsDense (fp16 codebooks and input, the layer computing in fp32; counter ratio),
whose codeword product takes 2x8 up to 16 tokens and 1x16 up to 32. Codes, codebooks and scales are random:
neither forward's speed depends on them.
"""
import os
import sys
from pathlib import Path

THREADS = 2
os.environ.setdefault("NUMBA_NUM_THREADS", str(THREADS))  # numba reads it when it is imported
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import peer_cpu_path  # noqa: E402,F401  (before torch)
import torch  # noqa: E402
from importlib import metadata  # noqa: E402
from aqlm import QuantizedLinear  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, ITERATIONS = 4096, 30
# (codebooks, bits per codebook, token counts)
LAYOUTS = ((2, 8, (1, 4, 8, 16)), (1, 16, (1, 8, 32)))


def aqlm_ratio(codebooks: int, nbits: int, tokens: int) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = QuantizedLinear(FEATURES, FEATURES, in_group_size=8, out_group_size=1, num_codebooks=codebooks,
                            nbits_per_codebook=nbits, bias=False, dtype=torch.float32)
    with torch.no_grad():
        low = -(1 << (nbits - 1))
        layer.codes.copy_(torch.randint(low, -low, layer.codes.shape, dtype=layer.codes.dtype))
        layer.codebooks.copy_(torch.randn(layer.codebooks.shape) * 0.5)
        layer.scales.copy_(torch.rand(layer.scales.shape) * 0.02)
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES), ITERATIONS)


def main() -> None:
    bench = start("bench_aqlm", THREADS, f"aqlm {metadata.version('aqlm')}, numba {metadata.version('numba')}, "
                  f"ig 8 {FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, "BM_AqlmVsDense/tokens:[0-9]+/codebooks:[0-9]+/nbits:[0-9]+/cached:0", "ratio", THREADS)
    for codebooks, nbits, tokens in LAYOUTS:
        print(f"{codebooks}x{nbits}:")
        print_table("aqlm", [(t, aqlm_ratio(codebooks, nbits, t),
                              ours[f"BM_AqlmVsDense/tokens:{t}/codebooks:{codebooks}/nbits:{nbits}/cached:0"])
                             for t in tokens])


if __name__ == "__main__":
    main()
