"""Run deploykit's benchmark suite and write ``benchmarks/RESULTS.md`` and ``scaling.png``.

usage: python benchmarks/run.py [--quick] [--sizes 1000,10000] [--scale] [--no-peer]
                                [--repeats R] [--out DIR]

``--quick`` (1,000 deployments, loops sampled to 100 calls) writes to a temporary
folder unless ``--out`` is given, so a smoke run never replaces the real figures.

Side by side with Prefect 2.10 (the peer venv made by ``scripts/setup_peer.sh``):
``peer_bench.py N`` and ``peer_extra.py N`` in the peer's venv, ``dk_bench.py N`` in
this one, each a subprocess whose peak RSS is read with ``os.wait4``. Answers are
compared (``_compare.py``); a difference SPEC.md does not allow exits non-zero.
Without the peer, answers are checked against ``peer_reference.json``, the answers
accepted by the last run with the peer. ``--scale`` adds ``scale.py`` (100,000
deployments, 10,000,000 flow runs, file-backed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
import _report as R  # noqa: E402
from _compare import Comparison, compare  # noqa: E402

PEER_CANDIDATES = (HERE / ".peer" / "venv" / "bin" / "python", Path("/tmp/prefect210/bin/python"))
REFERENCE = "peer_reference.json"
"""deploykit's answers accepted by the last run with the peer (generated data: do not edit)."""
QUICK_SIZES = [1000]
QUICK_LOOP_SAMPLE = 100


def find_peer() -> Path | None:
    """The peer venv's Python: ``$PREFECT_PEER_PYTHON``, ``benchmarks/.peer/venv``, /tmp/prefect210."""
    env = os.environ.get("PREFECT_PEER_PYTHON")
    candidates = ((Path(env),) if env else ()) + PEER_CANDIDATES
    return next((p for p in candidates if p.exists()), None)


def run_json(cmd: list[str], label: str) -> dict[str, Any]:
    """Run one benchmark subprocess; its JSON output plus ``peak_rss_mib`` and ``wall_s``."""
    print(f"  {label} ...", end="", flush=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{label} failed ({proc.returncode}):\n{err.read()[-3000:]}")
        doc = json.loads(out.read())
    doc["peak_rss_mib"] = usage.ru_maxrss / 1024
    doc["wall_s"] = wall
    print(f" {wall:.1f} s, peak RSS {doc['peak_rss_mib']:.0f} MiB", flush=True)
    return doc


def median_docs(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One document whose per-op timings are the medians over repeated runs."""
    merged = dict(docs[-1])
    merged["seconds"] = {k: statistics.median(d["seconds"][k] for d in docs) for k in docs[0]["seconds"]}
    merged["stats"] = {
        k: {s: statistics.median(d["stats"][k][s] for d in docs) for s in docs[0]["stats"][k]}
        for k in docs[0].get("stats", {})
    }
    merged["peak_rss_mib"] = max(d["peak_rss_mib"] for d in docs)
    merged["repeats"] = len(docs)
    return merged


def bench_size(n: int, peer: Path | None, repeats: int, loop_sample: int) -> dict[str, Any]:
    """Every subprocess at ``n`` deployments, ``repeats`` times each."""
    print(f"n = {n:,}", flush=True)
    py = sys.executable
    dk_cmd = [py, str(HERE / "dk_bench.py"), str(n), "--keys", f"--loop-sample={loop_sample}"]
    runs: dict[str, Any] = {"dk": median_docs([run_json(dk_cmd, "deploykit") for _ in range(repeats)])}
    if peer is not None:
        bench = [str(peer), str(C.peer_dir() / "peer_bench.py"), str(n)]
        extra = [str(peer), str(HERE / "peer_extra.py"), str(n)]
        runs["peer"] = median_docs([run_json(bench, "peer_bench") for _ in range(repeats)])
        runs["peer_extra"] = median_docs([run_json(extra, "peer_extra") for _ in range(repeats)])
    return runs


def check_size(n: int, runs: dict[str, Any]) -> Comparison:
    """Compare the answers at one size (with the peer, or with the recorded reference)."""
    dk = runs["dk"]["results"]
    deployments = C.load_workload().make(n)["deployments"]
    if "peer" in runs:
        peer = runs["peer_extra"]["results"] | runs["peer"]["results"]
        result = compare(n, peer, dk, runs["peer_extra"]["keys"], runs["dk"]["keys"], deployments)
        if runs["peer_extra"]["results"]["scheduled_fingerprint"] != peer["scheduled_fingerprint"]:
            result.failures.append(("peer_extra vs peer_bench", "", "", "peer runs disagree"))
    else:
        result = _check_reference(n, dk)
    _check_internal(result, dk)
    return result


def _check_reference(n: int, dk: dict[str, Any]) -> Comparison:
    """Without the peer: deploykit's answers must equal those accepted last time."""
    result = Comparison(n)
    path = HERE / REFERENCE
    accepted = json.loads(path.read_text()).get(str(n)) if path.exists() else None  # JSON keys are strings
    if accepted is None:
        result.explained.append(("reference", "-", "-", f"no recorded answers at n={n}"))
        return result
    for name, value in accepted.items():
        if dk.get(name) == value:
            result.equal.append(name)
        else:
            result.failures.append((name, value, dk.get(name), "differs from recorded answer"))
    return result


def _check_internal(result: Comparison, dk: dict[str, Any]) -> None:
    """deploykit's bulk and per-row paths must agree with each other."""
    pairs = [
        ("schedule_all_fingerprint", "scheduled_fingerprint"),
        ("queue_matches_matrix_total", "queue_matches_total"),
    ] + [(f"count_{f}", f"read_{f}_n") for f in ("flow", "flow_run", "task_run", "deployment")]
    for a, b in pairs:
        if dk[a] != dk[b]:
            result.failures.append((f"{a} vs {b}", dk[a], dk[b], "deploykit paths disagree"))


def write_reference(checks: list[Comparison], sizes: dict[int, dict[str, Any]]) -> None:
    """Record the answers accepted in this run with the peer, for runs without it."""
    accepted = {
        c.n: {k: v for k, v in sizes[c.n]["dk"]["results"].items() if k != "preview_runs_7d_rows"}
        for c in checks
        if "peer" in sizes[c.n] and not c.failures
    }
    if not accepted:
        return
    (HERE / REFERENCE).write_text(json.dumps(accepted, indent=1) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 deployments, sampled loops")
    parser.add_argument("--sizes", default="1000,10000", help="workload sizes, comma-separated")
    parser.add_argument("--scale", action="store_true", help="also 100k deployments / 10M runs")
    parser.add_argument("--no-peer", action="store_true", help="deploykit only")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each subprocess")
    parser.add_argument("--out", type=Path, help="where RESULTS.md goes (default benchmarks/)")
    args = parser.parse_args(argv)
    if args.out is None:
        quick_dir = Path(tempfile.gettempdir()) / "deploykit-bench"
        args.out = quick_dir if args.quick else HERE
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sizes = QUICK_SIZES if args.quick else [int(s) for s in args.sizes.split(",") if s]
    loop_sample = QUICK_LOOP_SAMPLE if args.quick else 1000
    peer = None if args.no_peer else find_peer()
    if peer is None and not args.no_peer:
        print("Prefect peer venv not found (run scripts/setup_peer.sh): deploykit only.")
    results = {n: bench_size(n, peer, args.repeats, loop_sample) for n in sizes}
    checks = [check_size(n, runs) for n, runs in results.items()]
    scale = None
    if peer is not None:
        write_reference(checks, results)
    R.write_results(args.out, results, checks, None, peer, args, time.perf_counter() - started)
    if args.scale:
        cmd = [sys.executable, str(HERE / "scale.py")]
        print("scale: 100,000 deployments / 10,000,000 flow runs", flush=True)
        scale = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    if scale is not None:
        R.write_results(args.out, results, checks, scale, peer, args, time.perf_counter() - started)
    failures = [f for c in checks for f in c.failures]
    for c in checks:
        print(f"n = {c.n:,}: {len(c.equal)} answers equal, {len(c.explained)} explained differences")
    for name, p, d, why in failures:
        print(f"FAILURE {name}: peer/reference {p!r} vs deploykit {d!r} ({why})")
    print(f"wrote {args.out / 'RESULTS.md'} in {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
