#!/usr/bin/env python3
"""Prints the machine and the library versions of a gpu-check.sh run as one JSON object:
GPU name, memory, compute capability and driver, torch / CUDA / cuDNN / PEFT / transformers / Python versions,
CPU cores, and the oft commit when the working tree is a git checkout (the device copy may not be).
    environment.py [--device cuda]"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys


def command_output(*cmd: str) -> str | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    env: dict = {"python": platform.python_version(), "cpu_cores": os.cpu_count(), "device": a.device}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda_runtime_of_torch"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
        env["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env["gpu"] = props.name
            env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            env["gpu_compute_capability"] = f"{props.major}.{props.minor}"
            env["gpu_count"] = torch.cuda.device_count()
    except Exception as e:  # noqa: BLE001 -- missing or broken: the rest of the environment is still worth having
        env["torch"] = None
        env["error"] = f"torch: {type(e).__name__}: {e}"[:300]
    for name in ("peft", "transformers"):
        try:
            env[name] = __import__(name).__version__
        except ImportError:
            env[name] = None
        except Exception as e:  # noqa: BLE001 -- installed but broken (a version clash): say so
            env[name] = f"import failed: {type(e).__name__}: {e}"[:300]
    smi = command_output("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
    env["nvidia_smi"] = smi.splitlines() if smi else None
    nvcc = command_output("nvcc", "--version")
    env["nvcc"] = nvcc.splitlines()[-1] if nvcc else None
    env["oft_commit"] = command_output("git", "rev-parse", "HEAD")
    env["oft_tree_dirty"] = bool(command_output("git", "status", "--porcelain", "--untracked-files=no"))
    print(json.dumps(env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
