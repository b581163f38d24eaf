"""Start-up time: ``deploykit --help`` and ``import deploykit``, each in a fresh interpreter.

Each command runs ``--runs`` times as a subprocess (after one warm-up run, so the OS
file cache is warm); the table gives the median, the fastest and the slowest wall time
and the target from issue 13. ``import deploykit`` is lazy (names load on first use), so
the table also times touching ``deploykit.Store`` and importing the operations, which
is what a script or notebook pays before its first call.

Usage::

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = [
    ("deploykit --help", ["-m", "deploykit.cli", "--help"], 0.5),
    ("import deploykit", ["-c", "import deploykit"], 0.8),
    ("import deploykit; deploykit.Store", ["-c", "import deploykit; deploykit.Store"], None),
    ("import deploykit.models.deployments", ["-c", "import deploykit.models.deployments"], None),
    ("python -c pass (interpreter alone)", ["-c", "pass"], None),
]


def wall_times(args: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh ``python args`` processes (after one warm-up)."""
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    runs = parser.parse_args().runs
    print(f"| command | median s | min s | max s | target s | ({runs} runs each) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, args, target in CASES:
        times = wall_times(args, runs)
        verdict = "" if target is None else ("ok" if statistics.median(times) < target else "SLOW")
        print(
            f"| `{name}` | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} "
            f"| {'' if target is None else target} | {verdict} |"
        )


if __name__ == "__main__":
    main()
