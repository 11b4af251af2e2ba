#!/usr/bin/env python3
"""Writes DIR/results.json for scripts/gpu-check.sh from what its stages left in DIR: env.json (machine and
versions), stages.tsv (each stage's exit status, seconds, limit), bench/<bench>.<impl>.json (one JSON object
per bench program or Python peer) and ctest-gpu.xml (the gpu-labelled tests, JUnit). Then checks issue 12's
goals, each a ratio within this run, and prints them as a table. Standard library only (it runs with the
GPU machine's python3).

    summarize.py --out DIR --mode gpu|dry-run-cpu --build BUILD_DIR --linear-large 8192 --linear-small 2048
                 --quantized-gemv 1 --quantized-gemm 2048 [--started UNIX_SECONDS] [--quiet]

gpu-check.sh runs it quietly after every stage, so that a run killed from outside still leaves a current
results.json, and once more at the end to print the table. In --mode dry-run-cpu that last run exits 1 when a
program reported an error or a goal got no numbers (other than what only a GPU measures).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SCHEMA = "oft-gpu-check/1"
# Goals the dry run cannot give numbers for: peak memory comes from the CUDA caching allocator.
CPU_UNMEASURED_GOALS = {"llama_qv_memory"}


def read_json(path: Path, errors: list[str]):
    if not path.exists():
        errors.append(f"{path.name}: missing (its stage did not run or did not finish)")
        return None
    text = path.read_text().strip()
    if not text:
        errors.append(f"{path.name}: empty (the program printed nothing: see its log in logs/)")
        return None
    # The programs print their JSON object again after every section, so that a run cut short by its time
    # limit still leaves what it measured: the last line that parses is the newest.
    for line in reversed(text.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    errors.append(f"{path.name}: no JSON line; first bytes: {text[:200]!r}")
    return None


def log_excerpt(out: Path, name: str) -> list[str]:
    """The lines of a stage's log that say why it failed: for the build, each FAILED target with the compiler's
    first lines after it; for the configure, the end of the kit's configure log; otherwise the log's end.
    The logs themselves may not come back from the GPU machine, so results.json carries these."""
    def lines_of(path: Path) -> list[str]:
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    lines = lines_of(out / "logs" / f"{name}.log")
    if name == "build":
        excerpt = []
        for i, line in enumerate(lines):
            if line.startswith("FAILED:"):
                excerpt += lines[i:i + 12]
        lines = excerpt[:80] or lines[-30:]
    elif name == "configure":
        lines = (lines_of(out / "logs" / "kit" / "configure.log") or lines)[-40:]
    else:
        lines = lines[-30:]
    return [line[:300] for line in lines]


def read_stages(out: Path) -> list[dict]:
    stages = []
    path = out / "stages.tsv"
    if path.exists():
        for line in path.read_text().splitlines():
            name, rc, seconds, limit, note = line.split("\t")
            stage = {"name": name, "rc": int(rc), "seconds": float(seconds), "limit_s": int(limit), "status": note}
            if note in ("failed", "timed_out"):
                stage["log_excerpt"] = log_excerpt(out, name)
            stages.append(stage)
    return stages


def read_junit(path: Path, not_built: Path) -> dict:
    tests = {"label": "gpu", "total": 0, "passed": 0, "failed": 0, "skipped": 0, "failed_names": [],
             "skipped_messages": []}
    # Test programs that did not build (or could not list their tests) appear in ctest as <name>_NOT_BUILT,
    # without the gpu label: gpu-check.sh lists them, and they count as failures here.
    if not_built.exists():
        tests["not_built"] = not_built.read_text().split()
        tests["failed"] += len(tests["not_built"])
        tests["failed_names"] += tests["not_built"]
    if not path.exists():
        tests["error"] = "no ctest-gpu.xml (the ctest stage did not run)"
        return tests
    try:
        cases = list(ET.parse(path).getroot().iter("testcase"))
    except ET.ParseError as e:
        tests["error"] = f"ctest-gpu.xml does not parse ({e}): the ctest stage was cut short"
        return tests
    for case in cases:
        tests["total"] += 1
        status = case.get("status", "")
        output = (case.findtext("system-out") or "").splitlines()
        if case.find("failure") is not None or status == "fail":
            tests["failed"] += 1
            tests["failed_names"].append(case.get("name"))
            if len(tests.setdefault("failure_excerpts", {})) < 20:
                tests["failure_excerpts"][case.get("name")] = failure_lines(output)
        elif case.find("skipped") is not None or status in ("notrun", "disabled"):
            tests["skipped"] += 1
            if len(tests["skipped_messages"]) < 10:
                tests["skipped_messages"].append(f"{case.get('name')}: {skip_reason(output)}")
        else:
            tests["passed"] += 1
    return tests


def skip_reason(output: list[str]) -> str:
    """gtest prints "<file>:<line>: Skipped" and the reason on the lines after it (ctest's JUnit only says
    SKIP_REGULAR_EXPRESSION_MATCHED)."""
    for i, line in enumerate(output):
        if line.endswith(": Skipped"):
            reason = []
            for following in output[i + 1:i + 4]:
                if following.startswith("["):  # gtest's own "[  SKIPPED ]" line: the reason has ended
                    break
                reason.append(following)
            return " ".join(reason).strip()[:300]
    return "(no reason printed)"


def failure_lines(output: list[str]) -> list[str]:
    """Each gtest failure ("<file>:<line>: Failure") with the lines that explain it, at most 30 lines."""
    excerpt = []
    for i, line in enumerate(output):
        if line.endswith(": Failure") or "C++ exception" in line or "terminate called" in line:
            excerpt += output[i:i + 6]
    return [line[:300] for line in (excerpt or output[-10:])[:30]]


class Values:
    """Every measurement of every bench file, by (bench, impl, name)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str, str], dict] = {}
        self.flat: list[dict] = []

    def add(self, result: dict) -> None:
        for m in result.get("measurements", []):
            entry = {"bench": result.get("bench"), "impl": result.get("impl"), **m}
            self.flat.append(entry)
            self.by_key[(entry["bench"], entry["impl"], m["name"])] = entry

    def get(self, bench: str, impl: str, name: str) -> dict | None:
        return self.by_key.get((bench, impl, name))


def ratio_of(values: Values, pair) -> float | None:
    a, b = values.get(*pair[0]), values.get(*pair[1])
    return round(a["value"] / b["value"], 4) if a and b and b["value"] else None


def goal(values: Values, gid: str, text: str, num: tuple, den: tuple, op: str, limit: float, peers=None,
         fallback=None) -> dict:
    """num / den (each (bench, impl, measurement name)) compared with limit by op ("<=" or ">=");
    peers: {"peft_ratio": (num, den), ...}, PEFT's own ratios on the same definition (and cuda_cores_ratio, ours
    without the tensor cores; single_call_ratio and queued_ratio, the same ratio timed one call at a time on an idle GPU
    or with its queue full, whichever the goal is not), for context. fallback: (num, den) to use when num or den is
    missing, named in the goal's "fallback"."""
    g = {"id": gid, "goal": text, "comparison": op, "limit": limit, "unit": "x",
         "numerator": "/".join(num), "denominator": "/".join(den)}
    a, b = values.get(*num), values.get(*den)
    if (a is None or b is None) and fallback:  # e.g. the queued timing failed: one call's times, said so
        fa, fb = values.get(*fallback[0]), values.get(*fallback[1])
        if fa is not None and fb is not None:
            a, b = fa, fb
            g.update(numerator="/".join(fallback[0]), denominator="/".join(fallback[1]),
                     fallback=f"{'/'.join(num)} missing: measured as {'/'.join(fallback[0])}")
    if a is None or b is None or not b["value"]:
        g.update(status="missing", ratio=None)
        g["missing"] = [("/".join(k)) for k, v in ((num, a), (den, b)) if v is None]
    else:
        ratio = a["value"] / b["value"]
        ok = ratio <= limit if op == "<=" else ratio >= limit
        g.update(status="pass" if ok else "fail", ratio=round(ratio, 4),
                 numerator_value={"value": a["value"], "unit": a["unit"]},
                 denominator_value={"value": b["value"], "unit": b["unit"]})
    for key, pair in (peers or {}).items():
        if (r := ratio_of(values, pair)) is not None:
            g[key] = r
    return g


def goals(values: Values, a) -> list[dict]:
    L, S, V, M = a.linear_large, a.linear_small, a.quantized_gemv, a.quantized_gemm
    lin = lambda impl, t, n: ("oft_linear", impl, f"oft_linear.t{t}.{n}")  # noqa: E731
    llama = lambda impl, n: ("llama_step", impl, f"llama_step.{n}")  # noqa: E731
    quant = lambda t, n: ("quantized_linear", "oft", f"quantized_linear.t{t}.{n}")  # noqa: E731
    return [
        goal(values, "linear_eval_large", f"OFT Linear eval forward, {L} tokens: <= 1.02x bare",
             lin("oft", L, "oft_fwd"), lin("oft", L, "bare_fwd"), "<=", 1.02,
             {"queued_ratio": (lin("oft", L, "oft_fwd_queued"), lin("oft", L, "bare_fwd_queued")),
              "peft_ratio": (lin("peft", L, "peft_fwd"), lin("peft", L, "bare_fwd"))}),
        goal(values, "linear_fwdbwd_large", f"OFT Linear forward+backward, {L} tokens: <= 1.25x bare",
             lin("oft", L, "oft_fwdbwd"), lin("oft", L, "bare_fwdbwd"), "<=", 1.25,
             {"queued_ratio": (lin("oft", L, "oft_fwdbwd_queued"), lin("oft", L, "bare_fwdbwd_queued")),
              "cuda_cores_ratio": (lin("oft_cuda_cores", L, "oft_fwdbwd"), lin("oft_cuda_cores", L, "bare_fwdbwd")),
              "peft_ratio": (lin("peft", L, "peft_fwdbwd"), lin("peft", L, "bare_fwdbwd")),
              "peft_compile_ratio": (lin("peft_compile", L, "peft_compile_fwdbwd"),
                                     lin("peft_compile", L, "bare_fwdbwd"))}),
        goal(values, "linear_fwdbwd_small", f"OFT Linear forward+backward, {S} tokens: <= 1.6x bare",
             lin("oft", S, "oft_fwdbwd"), lin("oft", S, "bare_fwdbwd"), "<=", 1.6,
             {"queued_ratio": (lin("oft", S, "oft_fwdbwd_queued"), lin("oft", S, "bare_fwdbwd_queued")),
              "cuda_cores_ratio": (lin("oft_cuda_cores", S, "oft_fwdbwd"), lin("oft_cuda_cores", S, "bare_fwdbwd")),
              "peft_ratio": (lin("peft", S, "peft_fwdbwd"), lin("peft", S, "bare_fwdbwd")),
              "peft_compile_ratio": (lin("peft_compile", S, "peft_compile_fwdbwd"),
                                     lin("peft_compile", S, "bare_fwdbwd"))}),
        goal(values, "llama_qv_speed", "LLaMA-shaped training step, OFT q_proj,v_proj: >= 1.3x PEFT OFT's tokens/s",
             llama("oft", "qv.oft_tokens_per_s"), llama("peft", "oft_qv.tokens_per_s"), ">=", 1.3),
        goal(values, "llama_qv_memory", "LLaMA-shaped training step, OFT q_proj,v_proj: peak memory <= PEFT OFT's",
             llama("oft", "qv.oft_peak_memory"), llama("peft", "oft_qv.peak_memory"), "<=", 1.0),
        goal(values, "llama_all_linear_vs_lora", "LLaMA-shaped training step, OFT all-linear: >= PEFT LoRA r=16 all-linear tokens/s",
             llama("oft", "all_linear.oft_tokens_per_s"), llama("peft", "lora_all_linear.tokens_per_s"), ">=", 1.0),
        # The GPU's time per call with its queue full (the kernels' time, which the goal is about); one isolated
        # call's time, which adds the host's work before the launch to both sides, beside it.
        goal(values, "nf4_gemv", f"NF4 forward, {V} token(s): <= 0.5x dense",
             quant(V, "quantized_fwd_queued"), quant(V, "dense_fwd_queued"), "<=", 0.5,
             {"single_call_ratio": (quant(V, "quantized_fwd"), quant(V, "dense_fwd"))},
             fallback=(quant(V, "quantized_fwd"), quant(V, "dense_fwd"))),
        goal(values, "nf4_gemm", f"NF4 forward, {M} tokens: <= 1.3x dense",
             quant(M, "quantized_fwd_queued"), quant(M, "dense_fwd_queued"), "<=", 1.3,
             {"single_call_ratio": (quant(M, "quantized_fwd"), quant(M, "dense_fwd"))},
             fallback=(quant(M, "quantized_fwd"), quant(M, "dense_fwd"))),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mode", choices=("gpu", "dry-run-cpu"), required=True)
    ap.add_argument("--build", type=Path, required=True)
    ap.add_argument("--linear-large", required=True)
    ap.add_argument("--linear-small", required=True)
    ap.add_argument("--quantized-gemv", required=True)
    ap.add_argument("--quantized-gemm", required=True)
    ap.add_argument("--started", type=float, default=None)
    ap.add_argument("--quiet", action="store_true", help="write results.json only; print nothing")
    a = ap.parse_args()

    errors: list[str] = []
    values = Values()
    benchmarks: dict = {}
    for path in sorted((a.out / "bench").glob("*.json")):
        result = read_json(path, errors)
        if result is None:
            continue
        benchmarks.setdefault(result.get("bench", path.stem), {})[result.get("impl", "?")] = result
        values.add(result)
        errors.extend(f"{path.name}: {e}" for e in result.get("errors", []))
    for expected in ("oft_linear.oft", "oft_linear.peft", "llama_step.oft", "llama_step.peft",
                     "quantized_linear.oft"):
        if not (a.out / "bench" / f"{expected}.json").exists():
            errors.append(f"bench/{expected}.json: missing (its stage did not run or did not finish)")

    # The two LLaMA runs must train the same adapters for their times to compare.
    checks = []
    llama = benchmarks.get("llama_step", {})
    for ours, theirs in (("qv", "oft_qv"), ("all_linear", "oft_all_linear")):
        a_count = llama.get("oft", {}).get("trainable_parameters", {}).get(ours)
        b_count = llama.get("peft", {}).get("trainable_parameters", {}).get(theirs)
        if a_count is not None and b_count is not None:
            checks.append({"check": f"llama_step {ours}: oft and PEFT train as many adapter parameters",
                           "oft": a_count, "peft": b_count, "status": "pass" if a_count == b_count else "fail"})

    # What the configure said about CUDA ("oft: CUDA on (nvcc ..., architectures ..., runtime ...)" or off + why).
    cuda_configure = None
    for log in (a.out / "logs" / "kit" / "configure.log", a.build / "logs" / "configure.log"):
        if log.exists():
            lines = [l for l in log.read_text(errors="replace").splitlines() if l.startswith("-- oft: CUDA")]
            cuda_configure = lines[-1][3:] if lines else None
            break
    now = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "schema": SCHEMA,
        "mode": a.mode,
        "note": "dry run on the CPU at tiny sizes: the numbers test the pipeline, not the goals"
        if a.mode == "dry-run-cpu" else "one run on one GPU; every goal is a ratio within this run",
        "started_utc": datetime.datetime.fromtimestamp(a.started, datetime.timezone.utc).isoformat()
        if a.started else None,
        "finished_utc": now.isoformat(),
        "environment": read_json(a.out / "env.json", errors),
        "build": {"dir": str(a.build), "cuda": cuda_configure},
        "stages": read_stages(a.out),
        "tests": read_junit(a.out / "ctest-gpu.xml", a.out / "not-built.txt"),
        "goals": goals(values, a),
        "checks": checks,
        "measurements": values.flat,
        "benchmarks": benchmarks,
        "errors": errors,
    }
    (a.out / "results.json.tmp").write_text(json.dumps(results, indent=1) + "\n")
    (a.out / "results.json.tmp").replace(a.out / "results.json")

    if a.quiet:
        return 0
    # Errors first, shortened (a C++ error can carry a whole backtrace), so that the table ends the output.
    for e in errors[:20]:
        print(f"[gpu-check] error: {e[:300]}")
    for stage in results["stages"]:
        for line in stage.get("log_excerpt", [])[:40]:
            print(f"[gpu-check] {stage['name']} | {line}")
    print(f"[gpu-check] {a.mode}: goals (ratio within this run; PEFT's own ratio for context)")
    for g in results["goals"]:
        ratio = "   -  " if g["ratio"] is None else f"{g['ratio']:6.3f}"
        peft = f"  (PEFT {g['peft_ratio']:.2f}x)" if "peft_ratio" in g else ""
        peft += f" (PEFT compiled {g['peft_compile_ratio']:.2f}x)" if "peft_compile_ratio" in g else ""
        peft += f" (oft on CUDA cores {g['cuda_cores_ratio']:.2f}x)" if "cuda_cores_ratio" in g else ""
        peft += f" (one call on an idle GPU {g['single_call_ratio']:.2f}x)" if "single_call_ratio" in g else ""
        peft += f" (queue full {g['queued_ratio']:.2f}x)" if "queued_ratio" in g else ""
        peft += f" [{g['fallback']}]" if "fallback" in g else ""
        print(f"[gpu-check]   {g['status']:7s} {ratio} {g['comparison']} {g['limit']:<5} {g['goal']}{peft}")
    for c in checks:
        print(f"[gpu-check]   {c['status']:7s} {c['check']} (oft {c['oft']}, PEFT {c['peft']})")
    t = results["tests"]
    for name, lines in list(t.get("failure_excerpts", {}).items())[:5]:
        for line in lines[:8]:
            print(f"[gpu-check]   {name} | {line[:200]}")
    for message in t["skipped_messages"][:5] if a.mode == "gpu" else []:
        print(f"[gpu-check]   skipped on the GPU machine: {message[:200]}")
    print(f"[gpu-check] ctest -L gpu: {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped "
          f"of {t['total']}" + (f" (failed: {', '.join(t['failed_names'][:10])})" if t["failed"] else "")
          + (f"; NOT BUILT: {', '.join(t['not_built'])}" if t.get("not_built") else "")
          + (f"; {t['error']}" if "error" in t else ""))
    if a.mode == "dry-run-cpu":
        # The dry run tests the pipeline: every program must run clean and every goal get its numbers.
        unmeasured = [g["id"] for g in results["goals"]
                      if g["status"] == "missing" and g["id"] not in CPU_UNMEASURED_GOALS]
        if errors or unmeasured:
            print(f"[gpu-check] dry run not clean: {len(errors)} error(s), goals without numbers: "
                  f"{', '.join(unmeasured) or 'none'}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
