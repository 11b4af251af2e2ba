"""oft's inc layer against Intel Neural Compressor's own FP8 layer on this CPU, in one run: each one's eval forward
time over a dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, E4M3, maxabs_pow2
per-tensor scales, bf16 input, 2 threads), for 1, 16 and 64 tokens; then oft's ratio over INC's.

    .venv/bin/pip install -r requirements/golden-inc.txt
    .venv/bin/python bench/backends/inc/peer_forward.py [path/to/bench_inc]

INC runs FP8 on a CPU in QDQ mode: FP8Config(use_qdq=True) -> prepare -> calibrate -> finalize_calibration ->
convert gives its PatchedLinear, which quantizes and dequantizes the input and dequantizes the fp8 weight on
every call, then multiplies in bf16. oft's side is build/bin/bench_inc's BM_IncVsDense (the same QDQ semantics,
bf16 input; counter ratio). Weights and inputs are random: neither forward's speed depends on them.
"""
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import peer_cpu_path  # noqa: E402,F401  (before torch)
import torch  # noqa: E402
from importlib import metadata  # noqa: E402
from neural_compressor.torch.quantization import FP8Config, convert, finalize_calibration, prepare  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, THREADS, ITERATIONS = 4096, 2, 5  # INC's layer takes tens of dense GEMVs' time: a few calls suffice
TOKENS = (1, 16, 64)


class OneLinear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(FEATURES, FEATURES, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def inc_layer(stats_dir: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = OneLinear().to(torch.bfloat16).eval()
    config = FP8Config(use_qdq=True, fp8_config="E4M3", scale_method="maxabs_pow2",
                       dump_stats_path=os.path.join(stats_dir, "stats"))
    model = prepare(model, config)
    with torch.no_grad():
        model(torch.randn(64, FEATURES, dtype=torch.bfloat16))  # calibration
    finalize_calibration(model)
    layer = convert(model).proj
    assert type(layer).__name__ == "PatchedLinear", f"INC made a {type(layer).__name__}"
    return layer


def main() -> None:
    bench = start("bench_inc", THREADS, f"neural-compressor-pt {metadata.version('neural-compressor-pt')} "
                  f"PatchedLinear (QDQ), E4M3 {FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, "BM_IncVsDense/tokens:[0-9]+/e5m2:0/per_channel:0/cached:0", "ratio", THREADS)
    with tempfile.TemporaryDirectory() as stats_dir:
        layer = inc_layer(stats_dir)
        dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
        rows = [(t, ratio_to_dense(layer, dense, torch.randn(t, FEATURES, dtype=torch.bfloat16), ITERATIONS),
                 ours[f"BM_IncVsDense/tokens:{t}/e5m2:0/per_channel:0/cached:0"]) for t in TOKENS]
    print_table("inc", rows)


if __name__ == "__main__":
    main()
