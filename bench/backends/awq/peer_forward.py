"""oft's awq layer against GPTQModel's AwqTorchLinear on this CPU, in one run: each one's eval forward time over a
dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 4 bits, group 128, GEMM layout, fp16
scales, 2 threads), for 1, 16 and 64 tokens and GPTQModel given fp32, bf16 and fp16 input; then oft's ratio over
GPTQModel's.

    .venv/bin/pip install -r requirements/golden-awq.txt
    .venv/bin/python bench/backends/awq/peer_forward.py [path/to/bench_awq]

AwqTorchLinear is GPTQModel's portable AWQ kernel (transformers loads AWQ checkpoints through GPTQModel): it
dequantizes W on every call and multiplies in the input's dtype if that is fp16 or bf16, else in fp16. GPTQModel's other CPU kernel
(TorchCpuAvx512AwqLinear) needs AVX512-BF16 and bf16 input and is chosen explicitly, so it is left out. oft's side
is build/bin/bench_awq's BM_AwqVsDense (fp16 input, the layer computing in fp32; counter ratio). Codes, zeros and
scales are random: neither forward's speed depends on them.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import torch  # noqa: E402
from importlib import metadata  # noqa: E402
from gptqmodel.nn_modules.qlinear.torch_awq import AwqTorchLinear  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, GROUP, THREADS, ITERATIONS = 4096, 128, 2, 10  # fp16 takes hundreds of dense GEMVs
TOKENS = (1, 16, 64)


def awq_ratio(tokens: int, dtype: torch.dtype) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = AwqTorchLinear(bits=4, group_size=GROUP, sym=False, desc_act=False, in_features=FEATURES,
                           out_features=FEATURES, bias=False, pack_dtype=torch.int32, register_buffers=True)
    with torch.no_grad():
        for name in ("qweight", "qzeros"):
            buffer = getattr(layer, name)
            buffer.copy_(torch.randint(-2**31, 2**31 - 1, buffer.shape, dtype=torch.int32))
        layer.scales.copy_((torch.rand(layer.scales.shape) * 0.01).half())
    layer.post_init()
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES, dtype=dtype), ITERATIONS)


def main() -> None:
    bench = start("bench_awq", THREADS, f"GPTQModel {metadata.version('gptqmodel')} AwqTorchLinear, 4-bit g{GROUP} "
                  f"{FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, "BM_AwqVsDense/tokens:[0-9]+/bits:4/gemv:0/cached:0", "ratio", THREADS)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        print(f"GPTQModel with {name} input:")
        print_table("gptqmodel", [(t, awq_ratio(t, dtype), ours[f"BM_AwqVsDense/tokens:{t}/bits:4/gemv:0/cached:0"])
                                  for t in TOKENS])


if __name__ == "__main__":
    main()
