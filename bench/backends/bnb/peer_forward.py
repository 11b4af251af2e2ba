"""oft's NF4 layer against bitsandbytes' Linear4bit on this CPU, in one run: each one's eval forward time over
a dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, blocksize 64, fp32 compute,
2 threads), for 1, 16 and 64 tokens; then oft's ratio over bitsandbytes'.

    .venv/bin/python bench/backends/bnb/peer_forward.py [path/to/bench_bnb]

bitsandbytes runs its dequantize-then-matmul path (peer_cpu_path pins it: on CPUs with AVX512-BF16 it would
repack for its own bf16 kernel). oft's side is build/bin/bench_bnb's BM_Nf4 (counter x_dense).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
import peer_cpu_path  # noqa: E402  (before torch)
import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402

FEATURES, BLOCKSIZE, THREADS, ITERATIONS = 4096, 64, 2, 30
TOKENS = (1, 16, 64)


def bitsandbytes_ratio(tokens: int) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = bnb.nn.Linear4bit(FEATURES, FEATURES, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(dense.weight.detach().clone(), requires_grad=False, blocksize=BLOCKSIZE,
                                     quant_type="nf4")
    layer = layer.to("cpu")  # Params4bit quantizes here
    peer_cpu_path.use_dequantize_path(layer)
    layer.eval()
    x = torch.randn(tokens, FEATURES)
    dense_s = quantized_s = 0.0
    with torch.no_grad():
        layer(x)  # warm-up
        for _ in range(ITERATIONS):
            start = time.perf_counter()
            dense(x)
            middle = time.perf_counter()
            layer(x)
            dense_s += middle - start
            quantized_s += time.perf_counter() - middle
    return quantized_s / dense_s


def oft_ratios(bench: Path) -> dict[int, float]:
    out = subprocess.run([str(bench), "--benchmark_filter=BM_Nf4/", "--benchmark_format=json"], check=True,
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(THREADS)}).stdout
    ratios = {}
    for run in json.loads(out)["benchmarks"]:
        tokens = int(run["name"].split("/")[1])
        if tokens in TOKENS:
            ratios[tokens] = run["x_dense"]
    return ratios


def main() -> None:
    bench = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "bin" / "bench_bnb"
    torch.set_num_threads(THREADS)
    print(f"bitsandbytes {bnb.__version__}, torch {torch.__version__}, {THREADS} threads, NF4 {FEATURES}x{FEATURES}")
    peer = {tokens: bitsandbytes_ratio(tokens) for tokens in TOKENS}
    ours = oft_ratios(bench)
    print("tokens  bitsandbytes/dense  oft/dense  oft/bitsandbytes")
    for tokens in TOKENS:
        print(f"{tokens:6d}  {peer[tokens]:18.2f}  {ours[tokens]:9.2f}  {ours[tokens] / peer[tokens]:16.2f}")


if __name__ == "__main__":
    main()
