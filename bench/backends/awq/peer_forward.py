"""oft's awq layer against GPTQModel's AwqTorchLinear on this CPU, in one run: each one's eval forward time over a
dense fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 4 bits, group 128, GEMM layout, fp16
scales, 2 threads), for 1, 16 and 64 tokens and GPTQModel given fp32, bf16 and fp16 input; then oft's ratio over
GPTQModel's.

    .venv/bin/pip install -r requirements/golden-awq.txt
    .venv/bin/python bench/backends/awq/peer_forward.py [path/to/bench_awq]

AwqTorchLinear is GPTQModel's portable AWQ kernel (transformers loads AWQ checkpoints through GPTQModel): it
dequantizes W on every call and multiplies in the input's dtype if that is fp16 or bf16, else in fp16. GPTQModel's
other CPU kernel (TorchCpuAvx512AwqLinear) needs AVX512-BF16 and bf16 input and is chosen explicitly, so it is left
out. oft's side is build/bin/bench_awq's BM_AwqVsDense (fp16 input, the layer computing in fp32; counter ratio).
Codes, zeros and scales are random: neither forward's speed depends on them.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gptqmodel.nn_modules.qlinear.torch_awq import AwqTorchLinear  # noqa: E402
from gptqmodel_peer import compare  # noqa: E402

if __name__ == "__main__":
    compare("bench_awq", AwqTorchLinear, "BM_AwqVsDense/tokens:{tokens}/bits:4/gemv:0/cached:0", sym=False,
            register_buffers=True)
