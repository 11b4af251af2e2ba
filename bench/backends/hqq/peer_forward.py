"""oft's hqq layer against hqq's own HQQLinear on this CPU, in one run: each one's eval forward time over a
dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 4 bits, group 64, axis 1,
2 threads), for 1, 4, 8, 16 and 64 tokens; then oft's ratio over hqq's.

    DISABLE_CUDA=1 .venv/bin/pip install -r requirements/golden-hqq.txt
    .venv/bin/python bench/backends/hqq/peer_forward.py [path/to/bench_hqq]

hqq runs its PyTorch backend (the one it has on a CPU: dequantize W, then one matmul in the compute dtype),
timed with both compute dtypes; fp32 is its faster one here. oft's side is build/bin/bench_hqq's
BM_HqqVsDense (fp16 compute dtype: codes, scales and zeros in fp16, the GEMM in fp32; counter ratio).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import peer_cpu_path  # noqa: E402,F401  (before torch)
import torch  # noqa: E402
import hqq  # noqa: E402
from hqq.core.quantize import BaseQuantizeConfig, HQQBackend, HQQLinear  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, GROUP, THREADS, ITERATIONS = 4096, 64, 2, 30
TOKENS = (1, 4, 8, 16, 64)


def hqq_ratio(tokens: int, compute_dtype: torch.dtype) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    config = BaseQuantizeConfig(nbits=4, group_size=GROUP, axis=1)
    config["weight_quant_params"]["optimize"] = False  # speed does not depend on the codes: a short set-up
    layer = HQQLinear(dense, config, compute_dtype=compute_dtype, device="cpu", del_orig=False)
    HQQLinear.set_backend(HQQBackend.PYTORCH)
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES, dtype=compute_dtype), ITERATIONS)


def main() -> None:
    bench = start("bench_hqq", THREADS, f"hqq {hqq.__version__}, 4-bit g{GROUP} {FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, "BM_HqqVsDense/tokens:[0-9]+/nbits:4/cached:0", "ratio", THREADS)
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        print(f"hqq with compute dtype {name}:")
        print_table("hqq", [(t, hqq_ratio(t, dtype), ours[f"BM_HqqVsDense/tokens:{t}/nbits:4/cached:0"])
                            for t in TOKENS])


if __name__ == "__main__":
    main()
