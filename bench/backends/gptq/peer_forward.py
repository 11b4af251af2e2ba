"""oft's gptq layer against GPTQModel's TorchLinear on this CPU, in one run: each one's eval forward time over a dense
fp32 nn.Linear's, timed back to back in the same process (4096 x 4096, 4 bits, group 128, fp16 scales, 2 threads),
for 1, 16 and 64 tokens and GPTQModel given fp32, bf16 and fp16 input; then oft's ratio over GPTQModel's.

    .venv/bin/pip install -r requirements/golden-gptq.txt
    .venv/bin/python bench/backends/gptq/peer_forward.py [path/to/bench_gptq]

TorchLinear is the kernel GPTQModel (through which transformers loads GPTQ checkpoints) runs on a CPU: it
dequantizes W to fp16 on every call (its post_init compiles that step with torch.compile's inductor, as measured
here), casts it to the input's dtype and multiplies in that dtype (enable_weight_cache is a no-op). oft's side is
build/bin/bench_gptq's BM_GptqVsDense (fp16 input, the layer computing in fp32; counter ratio). Codes, zeros and
scales are random: neither forward's speed depends on them.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gptqmodel.nn_modules.qlinear.torch import TorchLinear  # noqa: E402
from gptqmodel_peer import compare  # noqa: E402

if __name__ == "__main__":
    compare("bench_gptq", TorchLinear, "BM_GptqVsDense/tokens:{tokens}/bits:4/cached:0", sym=True)
