"""deploykit at scale: 100,000 deployments, 100 queues, 10,000,000 flow runs, 1,000,000 task runs.

usage: python benchmarks/scale.py [--path FILE] [--deployments N] [--flow-runs N]

Builds a file-backed store in bulk (deployments with ``create_deployments`` from a
Polars frame; flow runs generated as Polars frames and inserted with one DuckDB
``INSERT ... SELECT`` per million, because ``create_flow_runs`` slows down sharply on a
large table: see README), then times each operation in its own subprocess (median of
repeats, first call, peak RSS from ``os.wait4``). Progress goes to stderr; the JSON
document to stdout. ``--measure OP`` runs one operation (used by the parent).
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models.flow_runs import create_flow_runs
from deploykit.models.flows import create_flow
from deploykit.models.work_queues import create_work_queue

CHUNK = 1_000_000
START = datetime(2023, 3, 1, tzinfo=UTC)
STATES = ["COMPLETED", "FAILED", "RUNNING", "SCHEDULED", "CANCELLED", "CRASHED", "PENDING"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def workload(n: int, queues: int) -> dict[str, Any]:
    """The shared workload's generator at scale, without its per-row flow runs."""
    return C.load_workload().make(n, n_flows=1000, n_queues=queues, runs_per_deployment=0)


def deployment_frame(w: dict[str, Any], description: str | None = None) -> pl.DataFrame:
    """The workload's deployments as the frame ``create_deployments`` takes."""
    deps = w["deployments"]
    frame = pl.DataFrame(
        {
            "id": [d["id"] for d in deps],
            "name": [d["name"] for d in deps],
            "flow_id": [d["flow_id"] for d in deps],
            "tags": [d["tags"] for d in deps],
            "schedule": [json.dumps(d["schedule"]) if d["schedule"] else None for d in deps],
            "is_schedule_active": [d["is_schedule_active"] for d in deps],
            "work_queue_name": [d["work_queue_name"] for d in deps],
            "parameters": [json.dumps(d["parameters"]) for d in deps],
        },
        schema_overrides={"tags": pl.List(pl.String), "schedule": pl.String},
    )
    if description is not None:
        frame = frame.with_columns(description=pl.lit(description))
    return frame


def run_frame(deps: pl.DataFrame, rows: int, seed: int, offset: int) -> pl.DataFrame:
    """``rows`` flow runs of pseudo-random deployments, states and start times (vectorised)."""
    index = pl.Series(range(rows))
    chosen = deps[(index.hash(seed) % deps.height).to_list()]
    base = datetime(2023, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "flow_id": chosen["flow_id"],
            "deployment_id": chosen["id"],
            "state_type": pl.Series(STATES)[(index.hash(seed + 2) % len(STATES)).to_list()],
            "minutes": (index.hash(seed + 1) % (60 * 24 * 60)).cast(pl.Int64),
        }
    )
    return frame.with_columns(
        name=pl.lit("run-") + (pl.int_range(pl.len()) + offset).cast(pl.String),
        state_name=pl.col("state_type").str.to_titlecase(),
        expected_start_time=pl.lit(base) + pl.duration(minutes=pl.col("minutes")),
    ).drop("minutes")


_INSERT_RUNS = """
INSERT INTO flow_run (id, created, updated, name, flow_id, deployment_id, parameters, tags,
    state_type, state_name, expected_start_time, auto_scheduled)
SELECT uuid(), now(), now(), name, CAST(flow_id AS UUID), CAST(deployment_id AS UUID), '{}', [],
    state_type, state_name, expected_start_time, false
FROM new_runs
"""
_INSERT_TASKS = """
INSERT INTO task_run (id, created, updated, name, flow_run_id, task_key, dynamic_key, tags,
    state_type, state_name)
SELECT uuid(), now(), now(), 'task', id, 'extract', '0', [], state_type, state_name
FROM flow_run WHERE hash(id) % 10 = 0 LIMIT $n
"""


def build(path: Path, n: int, queues: int, flow_runs: int, task_runs: int) -> dict[str, Any]:
    """Create the store; seconds per phase."""
    t: dict[str, Any] = {}
    w = workload(n, queues)
    store = dk.Store(path)
    t0 = time.perf_counter()
    for f in w["flows"]:
        create_flow(store, dk.Flow(id=f["id"], name=f["name"], tags=f["tags"]))
    for q in w["work_queues"]:
        create_work_queue(store, dk.WorkQueue(name=q["name"], filter=q["filter"]))
    t["flows_queues"] = time.perf_counter() - t0
    frame = deployment_frame(w)
    t0 = time.perf_counter()
    D.create_deployments(store, frame)
    t["create_deployments_insert"] = time.perf_counter() - t0
    log(f"  {n:,} deployments inserted in {t['create_deployments_insert']:.1f} s")
    deps = frame.select("id", "flow_id")
    first = min(CHUNK // 10, flow_runs)
    t0 = time.perf_counter()
    create_flow_runs(store, run_frame(deps, first, 11, 0))
    t["create_flow_runs_first"] = {"rows": first, "seconds": time.perf_counter() - t0}
    log(f"  {first:,} flow runs with create_flow_runs in {t['create_flow_runs_first']['seconds']:.1f} s")
    t0 = time.perf_counter()
    done = first
    while done < flow_runs:
        rows = min(CHUNK, flow_runs - done)
        chunk = run_frame(deps, rows, 100 + done, done)
        with store.transaction() as cur:
            cur.register("new_runs", chunk)
            cur.execute(_INSERT_RUNS).fetchall()
            cur.unregister("new_runs")
        done += rows
        log(f"  {done:,} flow runs ({time.perf_counter() - t0:.0f} s)")
    t["insert_select_flow_runs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.transaction() as cur:
        cur.execute(_INSERT_TASKS, {"n": task_runs}).fetchall()
    t["task_runs"] = time.perf_counter() - t0
    store.cursor().execute("CHECKPOINT").fetchall()
    store.close()
    return t


def _ids(store: dk.Store, k: int) -> list[tuple[str, str, str]]:
    return store.sql(
        "SELECT CAST(d.id AS VARCHAR) AS id, d.name, f.name AS flow FROM deployment d "
        f"JOIN flow f ON f.id = d.flow_id ORDER BY hash(d.id) LIMIT {int(k)}"
    ).rows()


def _each(fn: Callable[[Any], Any], items: list[Any]) -> list[float]:
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t0)
    return times


def _upsert_frames(n: int, queues: int, *, retag: bool) -> list[pl.DataFrame]:
    """Three frames re-deploying every deployment (built before timing): each sets a new
    description, and with ``retag`` also new tags (lists DuckDB rewrites the row for)."""
    frame = deployment_frame(workload(n, queues))
    return [
        frame.with_columns(
            description=pl.lit(f"v{k}"),
            tags=pl.col("tags").list.concat(pl.lit([f"v{k}"])) if retag else pl.col("tags"),
        )
        for k in range(2, 5)
    ]


def _repeat(fn: Callable[[], Any], reps: int) -> list[float]:
    return _each(lambda _: fn(), list(range(reps)))


def measure(op: str, path: Path, n: int, queues: int) -> dict[str, Any]:
    """Time one operation on the built store: every call's seconds."""
    store = dk.Store(path)
    day = START + timedelta(days=1)
    state = {"state": {"type": {"any_": ["FAILED"]}}}
    ops: dict[str, tuple[str, Callable[[], list[float]]]] = {
        "read_by_id": ("read_deployment (by id), 200 ids", lambda: _each(
            lambda r: D.read_deployment(store, r[0]), _ids(store, 200))),
        "read_by_name": ("read_deployment_by_name, 200 names", lambda: _each(
            lambda r: D.read_deployment_by_name(store, r[1], r[2]), _ids(store, 200))),
        "page50": ("read_deployments: tags all_ prod, name order, limit 50", lambda: _repeat(
            lambda: D.read_deployments(store, deployment_filter={"tags": {"all_": ["prod"]}},
                                       limit=50), 20)),
        "page50_flow_run": ("read_deployments: flow-run state, limit 50", lambda: _repeat(
            lambda: D.read_deployments(store, flow_run_filter=state, limit=50), 10)),
        "count_flow_run_state": ("count_deployments: flow-run state FAILED", lambda: _repeat(
            lambda: D.count_deployments(store, flow_run_filter=state), 5)),
        "count_task_run_state": ("count_deployments: task-run state FAILED", lambda: _repeat(
            lambda: D.count_deployments(store, task_run_filter=state), 5)),
        "queue_matches": ("queue_matches: full matrix (100k x 101 queues)", lambda: _repeat(
            lambda: D.queue_matches(store), 3)),
        "check_work_queues_one": ("check_work_queues_for_deployment, 50 ids", lambda: _each(
            lambda r: D.check_work_queues_for_deployment(store, r[0]), _ids(store, 50))),
        "preview_1d": ("preview_runs: every deployment, one day", lambda: _repeat(
            lambda: D.preview_runs(store, START, day), 3)),
        "schedule_runs_one": ("schedule_runs, 10 deployments", lambda: _each(
            lambda r: D.schedule_runs(store, r[0], start_time=START), _ids(store, 10))),
        "bulk_upsert": ("create_deployments: upsert of 100k existing, new descriptions", lambda: _each(
            lambda f: D.create_deployments(store, f), _upsert_frames(n, queues, retag=False))),
        "bulk_upsert_retag": ("create_deployments: upsert of 100k existing, all retagged", lambda: _each(
            lambda f: D.create_deployments(store, f), _upsert_frames(n, queues, retag=True))),
        "schedule_all": ("schedule_all: every active deployment (first call inserts)", lambda: _repeat(
            lambda: D.schedule_all(store, start_time=START), 1)),
        "create_flow_runs_1k": ("create_flow_runs: 1,000 more runs", lambda: _repeat(
            lambda: create_flow_runs(store, run_frame(
                store.sql("SELECT CAST(id AS VARCHAR) AS id, CAST(flow_id AS VARCHAR) AS flow_id "
                          "FROM deployment"), 1_000, int(time.time()), 0)), 1)),
    }  # fmt: skip
    label, fn = ops[op]
    times = fn()
    store.close()
    return {"label": label, "times": times, "peak_rss_mib": C.peak_rss_mib()}


OPS_ORDER = [
    "read_by_id",
    "read_by_name",
    "page50",
    "page50_flow_run",
    "count_flow_run_state",
    "count_task_run_state",
    "queue_matches",
    "check_work_queues_one",
    "preview_1d",
    "schedule_runs_one",
    "bulk_upsert",
    "bulk_upsert_retag",
    "schedule_all",
    "create_flow_runs_1k",
]
"""Reads first; writes last (they add runs or rewrite deployments)."""

TIMEOUT_S = 150


def child(args: argparse.Namespace, *extra: str) -> tuple[dict[str, Any] | None, float]:
    """Run this script in a subprocess; its JSON and peak RSS (MiB); None on timeout."""
    cmd = [sys.executable, __file__, "--path", str(args.path), "--deployments",
           str(args.deployments), "--flow-runs", str(args.flow_runs), *extra]  # fmt: skip
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return None, usage.ru_maxrss / 1024
            time.sleep(0.05)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{' '.join(extra)} failed")
        out.seek(0)
        return json.loads(out.read()), usage.ru_maxrss / 1024


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Build the store, then measure every operation in its own subprocess."""
    args.path.unlink(missing_ok=True)
    log(f"building {args.path} ...")
    t0 = time.perf_counter()
    built, build_rss = child(args, "--build")
    build_s = time.perf_counter() - t0
    if built is None:
        raise RuntimeError("building the store timed out")
    ops: dict[str, Any] = {}
    for op in OPS_ORDER:
        doc, rss = child(args, "--measure", op)
        if doc is None:
            log(f"  {op}: timed out after {TIMEOUT_S} s")
            ops[op] = {"label": f"{op} (timed out)", "median": TIMEOUT_S, "first": TIMEOUT_S,
                       "reps": 0, "peak_rss_mib": rss}  # fmt: skip
            continue
        times = doc["times"]
        ops[op] = {"label": doc["label"], "median": statistics.median(times), "first": times[0],
                   "reps": len(times), "peak_rss_mib": rss}  # fmt: skip
        log(f"  {op}: median {ops[op]['median'] * 1e3:.2f} ms, RSS {rss:.0f} MiB")
    with dk.Store(args.path, read_only=True) as store:
        counts = store.sql(
            "SELECT (SELECT count(*) FROM deployment) d, (SELECT count(*) FROM work_queue) q,"
            " (SELECT count(*) FROM flow_run) r, (SELECT count(*) FROM task_run) t"
        ).row(0)
    return {
        "deployments": counts[0],
        "work_queues": counts[1],
        "flow_runs": counts[2],
        "task_runs": counts[3],
        "file_mib": args.path.stat().st_size / 2**20,
        "build_s": build_s,
        "build_rss_mib": build_rss,
        "build": built,
        "build_how": (
            f"deployments with create_deployments ({built['create_deployments_insert']:.1f} s), "
            f"the first {built['create_flow_runs_first']['rows']:,} flow runs with create_flow_runs "
            f"({built['create_flow_runs_first']['seconds']:.1f} s), the rest with DuckDB INSERT ... "
            f"SELECT from Polars frames ({built['insert_select_flow_runs']:.0f} s), task runs with "
            f"INSERT ... SELECT ({built['task_runs']:.1f} s)"
        ),
        "ops": ops,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path,
                        default=Path(tempfile.gettempdir()) / "deploykit-scale.duckdb")  # fmt: skip
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--flow-runs", type=int, default=10_000_000)
    parser.add_argument("--task-runs", type=int, default=1_000_000)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    a = parse_args()
    if a.build:
        result = build(a.path, a.deployments, a.queues, a.flow_runs, a.task_runs)
    elif a.measure:
        result = measure(a.measure, a.path, a.deployments, a.queues)
    else:
        result = main(a)
    print(json.dumps(result, indent=1))
