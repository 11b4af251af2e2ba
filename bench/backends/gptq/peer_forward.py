"""oft's gptq layer against GPTQModel's TorchLinear on this CPU, in one run: each one's eval forward time over a
dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 4 bits, group 128, fp16 scales, 2
threads), for 1, 16 and 64 tokens and GPTQModel given fp32, bf16 and fp16 input; then oft's ratio over GPTQModel's.

    .venv/bin/pip install -r requirements/golden-gptq.txt
    .venv/bin/python bench/backends/gptq/peer_forward.py [path/to/bench_gptq]

TorchLinear is the kernel GPTQModel (through which transformers loads GPTQ checkpoints) runs on a CPU: it
dequantizes W to fp16 on every call, casts it to the input's dtype and multiplies in that dtype (its weight
cache is gone: enable_weight_cache is a no-op; its optional torch.compile is not measured here). oft's side is build/bin/bench_gptq's
BM_GptqVsDense (fp16 input, the layer computing in fp32; counter ratio). Codes, zeros and scales are random:
neither forward's speed depends on them.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench" / "backends"))
import torch  # noqa: E402
from importlib import metadata  # noqa: E402
from gptqmodel.nn_modules.qlinear.torch import TorchLinear  # noqa: E402
from peer_ratio import oft_ratios, print_table, ratio_to_dense, start  # noqa: E402

FEATURES, GROUP, THREADS, ITERATIONS = 4096, 128, 2, 10  # fp16 takes hundreds of dense GEMVs
TOKENS = (1, 16, 64)


def gptq_ratio(tokens: int, dtype: torch.dtype) -> float:
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = TorchLinear(bits=4, group_size=GROUP, sym=True, desc_act=False, in_features=FEATURES,
                        out_features=FEATURES, bias=False, pack_dtype=torch.int32)
    with torch.no_grad():
        for name in ("qweight", "qzeros"):
            buffer = getattr(layer, name)
            buffer.copy_(torch.randint(-2**31, 2**31 - 1, buffer.shape, dtype=torch.int32))
        layer.scales.copy_((torch.rand(layer.scales.shape) * 0.01).half())
    layer.post_init()
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES, dtype=dtype), ITERATIONS)


def main() -> None:
    bench = start("bench_gptq", THREADS, f"GPTQModel {metadata.version('gptqmodel')} TorchLinear, 4-bit g{GROUP} "
                  f"{FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, "BM_GptqVsDense/tokens:[0-9]+/bits:4/cached:0", "ratio", THREADS)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        print(f"GPTQModel with {name} input:")
        print_table("gptqmodel", [(t, gptq_ratio(t, dtype), ours[f"BM_GptqVsDense/tokens:{t}/bits:4/cached:0"])
                                  for t in TOKENS])


if __name__ == "__main__":
    main()
