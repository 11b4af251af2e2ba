#!/usr/bin/env python
"""Runs the C++ OFT Linear benchmark and the PEFT peer on the same shapes in one go and prints ratios.

    .venv/bin/python bench/adapter/compare_oft_linear.py [--threads 2]

Needs build/bin/bench_oft_linear (scripts/setup.sh) and PEFT in .venv (scripts/setup.sh --peers).
Ratios: oft/bare (this project), peft/bare (PEFT), and oft/peft on the same measurement ("fwd-nc": oft's eval
forward with the eval weight cache off, against PEFT's eval forward). Absolute
times are printed too but only the ratios within this one run are meaningful.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cpp(threads):
    out = subprocess.run(
        [os.path.join(ROOT, "build/bin/bench_oft_linear"), "--benchmark_format=json", "--benchmark_repetitions=3",
         "--benchmark_report_aggregates_only=true"],
        env={**os.environ, "OFT_BENCH_THREADS": str(threads)}, check=True, capture_output=True, text=True).stdout
    times = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name, *args = b["run_name"].split("/")
        shape = tuple(int(a.split(":")[1]) for a in args[:3])
        times[(name, shape)] = b["real_time"] / 1e3  # ms -> s
    return times


def run_peft(threads):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench/adapter/peft_oft_linear.py"), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # the JSON line; imported packages may print banners first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cpp = run_cpp(args.threads)
    peft = run_peft(args.threads)
    print(f"threads={args.threads}  peft={peft['versions'].get('peft')}  torch={peft['versions'].get('torch')}")
    header = f"{'tokens x features, block':<26}{'measure':<8}{'oft/bare':>10}{'peft/bare':>11}{'oft/peft':>10}{'oft s':>10}{'peft s':>10}"
    print(header)
    for r in peft["results"]:
        shape = (r["tokens"], r["features"], r["block"])
        label = f"{shape[0]} x {shape[1]}, {shape[2]}"
        for measure, cpp_bare, cpp_oft, key in [("fwd", "BM_BareForward", "BM_OFTForward", "fwd"),
                                                 ("fwd-nc", "BM_BareForward", "BM_OFTForwardNoWeightCache", "fwd"),
                                                 ("fwd+bwd", "BM_BareForwardBackward", "BM_OFTForwardBackward", "fwdbwd")]:
            bare, oft = cpp[(cpp_bare, shape)], cpp[(cpp_oft, shape)]
            p_bare, p_oft = r[f"bare_{key}_s"], r[f"oft_{key}_s"]
            print(f"{label:<26}{measure:<8}{oft / bare:>10.3f}{p_oft / p_bare:>11.3f}{oft / p_oft:>10.3f}{oft:>10.4f}{p_oft:>10.4f}")


if __name__ == "__main__":
    main()
