"""oft's NF4 and int8 layers against bitsandbytes' Linear4bit and Linear8bitLt on this CPU, in one run: each one's
eval forward time over a dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 2 threads;
NF4: blocksize 64, fp32 compute, 1 to 64 tokens; int8: threshold 0, 1 to 64 tokens); then oft's ratio over
bitsandbytes'.

    .venv/bin/python bench/backends/bnb/peer_forward.py [path/to/bench_bnb]

bitsandbytes runs its dequantize-then-matmul path (peer_cpu_path pins it: on CPUs with AVX512-BF16 it would
repack for its own bf16 kernel). Its int8 layer quantizes the activations to int8 row by row and multiplies the
codes (its CPU path), as oft's does. oft's side is build/bin/bench_bnb's BM_Nf4 and BM_Int8 (counter x_dense).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import peer_cpu_path  # noqa: E402  (before torch)
import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, BLOCKSIZE, THREADS, ITERATIONS = 4096, 64, 2, 30
TOKENS = (1, 4, 8, 16, 64)
INT8_TOKENS = (1, 4, 16, 64)


def bitsandbytes_ratio(tokens: int) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = bnb.nn.Linear4bit(FEATURES, FEATURES, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(dense.weight.detach().clone(), requires_grad=False, blocksize=BLOCKSIZE,
                                     quant_type="nf4")
    layer = layer.to("cpu")  # Params4bit quantizes here
    peer_cpu_path.use_dequantize_path(layer)
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES), ITERATIONS)


def bitsandbytes_int8_ratio(tokens: int) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = bnb.nn.Linear8bitLt(FEATURES, FEATURES, bias=False, has_fp16_weights=False, threshold=0.0)
    layer.weight = bnb.nn.Int8Params(dense.weight.detach().clone(), requires_grad=False, has_fp16_weights=False)
    layer = layer.to("cpu")  # Int8Params quantizes here
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES), ITERATIONS)


def main() -> None:
    bench = start("bench_bnb", THREADS, f"bitsandbytes {bnb.__version__}, NF4 {FEATURES}x{FEATURES}")
    peer = {tokens: bitsandbytes_ratio(tokens) for tokens in TOKENS}
    ours = oft_ratios(bench, "BM_Nf4/", "x_dense", THREADS)
    print("NF4:")
    print_table("bitsandbytes", [(t, peer[t], ours[f"BM_Nf4/{t}/manual_time"]) for t in TOKENS])
    int8_peer = {tokens: bitsandbytes_int8_ratio(tokens) for tokens in INT8_TOKENS}
    int8_ours = oft_ratios(bench, "BM_Int8/", "x_dense", THREADS)
    print("int8:")
    print_table("bitsandbytes", [(t, int8_peer[t], int8_ours[f"BM_Int8/{t}/manual_time"]) for t in INT8_TOKENS])


if __name__ == "__main__":
    main()
