"""What the backends' peer_forward.py scripts share: a peer layer's eval forward time over a dense fp32
nn.Linear's, the two timed back to back in one process, and the same ratio as an oft benchmark reports it
(the benchmark times oft's layer against a dense fp32 GEMV the same way), so each script can print
oft's time over the peer's."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch


def ratio_to_dense(layer, dense: torch.nn.Linear, x: torch.Tensor, iterations: int) -> float:
    """layer(x)'s mean time over dense(x.float())'s, alternating the two; one warm-up call each."""
    xf = x.float()
    dense_s = layer_s = 0.0
    with torch.no_grad():
        dense(xf)
        layer(x)
        for _ in range(iterations):
            start = time.perf_counter()
            dense(xf)
            middle = time.perf_counter()
            layer(x)
            dense_s += middle - start
            layer_s += time.perf_counter() - middle
    return layer_s / dense_s


def start(bench_name: str, threads: int, description: str) -> Path:
    """Sets torch's thread count, prints what is compared, and returns the oft benchmark binary to run: the
    script's first argument, else build/bin/<bench_name>."""
    torch.set_num_threads(threads)
    print(f"{description}, torch {torch.__version__}, {threads} threads")
    default = Path(__file__).resolve().parents[2] / "build" / "bin" / bench_name
    return Path(sys.argv[1]) if len(sys.argv) > 1 else default


def oft_ratios(bench: Path, benchmark_filter: str, counter: str, threads: int) -> dict[str, float]:
    """Each benchmark's `counter` from one run of an oft benchmark binary, by benchmark name."""
    out = subprocess.run([str(bench), f"--benchmark_filter={benchmark_filter}", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads), "OFT_BENCH_THREADS": str(threads)})
    return {run["name"]: run[counter] for run in json.loads(out.stdout)["benchmarks"]}


def print_table(peer_name: str, rows: list[tuple[int, float, float]]) -> None:
    """rows: (tokens, peer / dense, oft / dense)."""
    print(f"tokens  {peer_name}/dense  oft/dense  oft/{peer_name}")
    for tokens, peer, ours in rows:
        print(f"{tokens:6d}  {peer:{len(peer_name) + 6}.2f}  {ours:9.2f}  {ours / peer:{len(peer_name) + 4}.3f}")
