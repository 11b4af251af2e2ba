"""What the gptq and awq peer scripts share: a GPTQModel layer class (TorchLinear, AwqTorchLinear) with random
packed codes and zeros and fp16 scales, timed against a dense fp32 nn.Linear with fp32, bf16 and fp16 input, and
oft's benchmark of the same layer beside it (peer_ratio's ratios)."""
from importlib import metadata

import torch

from peer_ratio import oft_ratios, print_table, ratio_to_dense, start

FEATURES, GROUP, THREADS, ITERATIONS = 4096, 128, 2, 10  # fp16 takes hundreds of dense GEMVs
TOKENS = (1, 16, 64)
INPUT_DTYPES = (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16))


def peer_ratio(layer_class, tokens: int, dtype: torch.dtype, **layer_args) -> float:
    """A 4-bit g128 layer_class(FEATURES x FEATURES)'s forward time over a dense fp32 Linear's. Its codes, zeros
    and scales are random: the forward's speed does not depend on them."""
    torch.manual_seed(0)
    dense = torch.nn.Linear(FEATURES, FEATURES, bias=False)
    layer = layer_class(bits=4, group_size=GROUP, desc_act=False, in_features=FEATURES, out_features=FEATURES,
                        bias=False, pack_dtype=torch.int32, **layer_args)
    with torch.no_grad():
        for name in ("qweight", "qzeros"):
            buffer = getattr(layer, name)
            buffer.copy_(torch.randint(-2**31, 2**31 - 1, buffer.shape, dtype=torch.int32))
        layer.scales.copy_((torch.rand(layer.scales.shape) * 0.01).half())
    layer.post_init()
    layer.eval()
    return ratio_to_dense(layer, dense, torch.randn(tokens, FEATURES, dtype=dtype), ITERATIONS)


def compare(bench_name: str, layer_class, oft_benchmark: str, **layer_args) -> None:
    """Prints, per input dtype, GPTQModel's and oft's ratios to dense. oft_benchmark: the oft benchmark's name with
    {tokens} where its token count goes."""
    bench = start(bench_name, THREADS, f"GPTQModel {metadata.version('gptqmodel')} {layer_class.__name__}, 4-bit "
                  f"g{GROUP} {FEATURES}x{FEATURES}")
    ours = oft_ratios(bench, oft_benchmark.format(tokens="[0-9]+"), "ratio", THREADS)
    for name, dtype in INPUT_DTYPES:
        print(f"GPTQModel with {name} input:")
        print_table("gptqmodel", [(t, peer_ratio(layer_class, t, dtype, **layer_args),
                                   ours[oft_benchmark.format(tokens=t)]) for t in TOKENS])
