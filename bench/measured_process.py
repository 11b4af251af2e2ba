"""What the peer benchmarks measure of a child process, in one place: its standard output, wall time and peak
resident memory (wait4's ru_maxrss: libraries, weights and activations), with the thread count pinned; and the
rounds that run several commands in turns, so a shared machine's slow spells hit all of them alike.

Children, not the parent, import torch: a forked child shares the parent's pages until it execs, so a parent that
has imported torch would count its own resident memory into every child's peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, TypeVar


@dataclass
class Measured:
    stdout: str
    seconds: float  # from start to exit
    peak_gib: float


def run_measured(command: list[str], threads: int, cwd: str | os.PathLike | None = None) -> Measured:
    """Runs the command with OMP_NUM_THREADS and MKL_NUM_THREADS set to threads; exits with its standard error if
    it fails (standard error is kept out of stdout, so the peers' import banners stay out of the tables)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True) as process:
            stdout = process.stdout.read()
            _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (Popen.wait would not give it)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            sys.exit(f"{command[0]} exited with {process.returncode}:\n{stderr.read()[-4000:]}")
    return Measured(stdout, seconds, usage.ru_maxrss / 2**20)  # ru_maxrss is in KiB on Linux


def last_json_line(stdout: str) -> str:
    """The last line of stdout that starts with "{" (the child's report), or an exit naming what was missing."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"no JSON line in the output:\n{stdout[-4000:]}")
    return lines[-1]


T = TypeVar("T")


def in_turns(names: list[str], rounds: int, measure: Callable[[str], T], show: Callable[[T], str]) -> dict[str, list[T]]:
    """measure(name) for every name in turn, in a warm-up round and then in `rounds` measured rounds; prints a line a
    round (show(result) after each name) and returns the measured rounds' results by name."""
    results: dict[str, list[T]] = {name: [] for name in names}
    for round_index in range(rounds + 1):
        measured = {name: measure(name) for name in names}
        label = "warm-up" if round_index == 0 else f"round {round_index}"
        print(f"{label}: " + ", ".join(f"{name} {show(m)}" for name, m in measured.items()), flush=True)
        if round_index > 0:
            for name, m in measured.items():
                results[name].append(m)
    return results
