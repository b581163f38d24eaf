"""Run-history analytics at fleet scale: 100,000 deployments / 10,000,000 flow runs at ``--scale 1``.

Builds a file store synthetically inside DuckDB (``range`` / hash arithmetic, no Python
loop over rows): flows, three work pools with ten queues each, deployments with daily
cron, six-hourly and hourly interval schedules, and 100 runs per deployment over 90
days (mostly COMPLETED, some FAILED / CRASHED / CANCELLED, the newest few still
SCHEDULED, PENDING or RUNNING, one in 200 scheduled dates skipped so that
``missed_runs`` finds something). Then a fresh child process opens the store read-only
and times each ``deploykit.history`` function (best of ``--reps``), reporting its peak RSS.

Usage::

    python benchmarks/bench_history.py                 # --scale 0.01: 1,000 deployments, 100,000 runs
    python benchmarks/bench_history.py --scale 1 --write benchmarks/HISTORY_RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2024, 6, 1, tzinfo=UTC)
"""The benchmark's "now": the history covers the 90 days before it."""
RUNS_PER_DEPLOYMENT = 100
TARGETS = {
    "deployment_health (everything)": 1.0,
    "run_metrics duration by deployment and day, 90 days": 1.0,
    "missed_runs, one week": 2.0,
}
PEAK_RSS_TARGET_GIB = 4.0

_BUILD = """
INSERT INTO flow (id, created, updated, name, tags) SELECT uuid(), $now, $now, 'flow-' || i, []
    FROM range($flows) t(i);
INSERT INTO work_pool (id, created, updated, name, type, is_paused, base_job_template)
    SELECT uuid(), $now, $now, 'pool-' || i, 'kubernetes', i = 2, '{}' FROM range(3) t(i);
INSERT INTO work_queue (id, created, updated, name, work_pool_id, is_paused, priority)
    SELECT uuid(), $now, $now, 'queue-' || q, p.id, q = 7, 1 FROM work_pool p, range(10) t(q);
CREATE TEMP TABLE flow_ids AS SELECT row_number() OVER (ORDER BY name) - 1 AS k, id FROM flow;
CREATE TEMP TABLE queue_ids AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, name FROM work_queue;
INSERT INTO deployment (id, created, updated, name, flow_id, paused, infra_overrides,
        parameters, tags, work_queue_name, work_queue_id)
    SELECT uuid(), $now, $now, 'deployment-' || i, f.id, i % 50 = 7, '{}', '{}',
        CASE WHEN i % 3 = 0 THEN ['prod'] ELSE [] END, q.name, q.id
    FROM range($deployments) t(i)
    JOIN flow_ids f ON f.k = i % $flows
    JOIN queue_ids q ON q.k = i % 30;
INSERT INTO deployment_schedule (id, created, updated, deployment_id, schedule, active, parameters)
    SELECT uuid(), $now, $now, id,
        CASE WHEN i % 20 = 0 THEN '{"interval": 3600.0, "anchor_date": "2024-01-01T00:00:00+00:00"}'
             WHEN i % 20 < 4 THEN '{"interval": 21600.0, "anchor_date": "2024-01-01T00:10:00+00:00"}'
             ELSE '{"cron": "' || (i % 4) * 15 || ' ' || (i % 24) || ' * * *", "timezone": "UTC"}' END,
        TRUE, '{}'
    FROM (SELECT id, CAST(split_part(name, '-', 2) AS BIGINT) AS i FROM deployment);
INSERT INTO flow_run (id, created, updated, name, flow_id, deployment_id, work_queue_name, work_queue_id,
        parameters, tags, state_type, state_name, expected_start_time, start_time, end_time, auto_scheduled)
    SELECT uuid(), $now, $now, 'run-' || k, flow_id, id, work_queue_name, work_queue_id, '{}', [],
        state, state, expected,
        CASE WHEN state IN ('SCHEDULED', 'PENDING') THEN NULL ELSE expected + to_seconds(h % 120) END,
        CASE WHEN state IN ('SCHEDULED', 'PENDING', 'RUNNING') THEN NULL
             ELSE expected + to_seconds(h % 120 + 30 + (h // 7) % 3600) END,
        TRUE
    FROM (
        SELECT d.id, d.flow_id, d.work_queue_name, d.work_queue_id, k, h,
            CASE WHEN i % 20 = 0 THEN $end - to_hours($per - k)
                 WHEN i % 20 < 4 THEN $end - to_hours(6 * ($per - k)) + to_minutes(10)
                 ELSE $end - to_days($per - k) + to_hours(i % 24) + to_minutes((i % 4) * 15) END AS expected,
            CASE WHEN k >= $per - 2 THEN (['SCHEDULED', 'PENDING', 'RUNNING'])[1 + h % 3]
                 WHEN h % 100 < 85 THEN 'COMPLETED'
                 WHEN h % 100 < 92 THEN 'FAILED'
                 WHEN h % 100 < 96 THEN 'CRASHED' ELSE 'CANCELLED' END AS state
        FROM (
            SELECT d.*, CAST(split_part(d.name, '-', 2) AS BIGINT) AS i, k,
                CAST(hash(d.id, k) % 1000000007 AS BIGINT) AS h
            FROM deployment d, range($per) t(k)
        ) AS d
        WHERE h % 200 <> 0
    );
"""


def build(path: Path, deployments: int) -> float:
    """Create the store at ``path``; returns the seconds it took.

    The store is built beside ``path`` and renamed into place once complete, so a failed
    build never leaves a half-made store for ``--store`` to reuse."""
    import deploykit as dk
    from deploykit.store import BUILD_SQL

    started = time.perf_counter()
    partial = path.with_name(path.name + ".building")
    partial.unlink(missing_ok=True)
    with dk.Store(partial) as store, store.transaction() as cur:
        params = {"now": END, "end": END, "flows": max(deployments // 100, 1)}
        for statement in filter(str.strip, _BUILD.split(";")):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            used |= {
                k: v
                for k, v in (("deployments", deployments), ("per", RUNS_PER_DEPLOYMENT))
                if f"${k}" in statement
            }
            cur.execute(statement, used or None)
        cur.execute(BUILD_SQL)  # the runs went in by SQL, not through the writer: their rollups
    partial.rename(path)
    return time.perf_counter() - started


def measure(path: Path, reps: int) -> dict:
    """Time each history function on the store (run in a fresh process)."""
    import deploykit as dk
    from deploykit.history import deployment_health, late_runs, missed_runs, run_metrics

    calls = {
        "deployment_health (everything)": lambda s: deployment_health(s, as_of=END),
        "deployment_health, last 7 days, tag prod": lambda s: deployment_health(
            s, since=END - timedelta(days=7), as_of=END, deployment_filter={"tags": {"all_": ["prod"]}}
        ),
        "run_metrics duration by deployment and day, 90 days": lambda s: run_metrics(
            s,
            "duration",
            by="deployment_id",
            every="1d",
            since=END - timedelta(days=90),
            until=END,
            as_of=END,
        ),
        "run_metrics lateness by pool and state": lambda s: run_metrics(
            s, "lateness", by=["work_pool_name", "state_type"], as_of=END
        ),
        "missed_runs, one week": lambda s: missed_runs(s, END - timedelta(days=7), END),
        "late_runs": lambda s: late_runs(s, as_of=END),
    }
    results = {}
    with dk.Store(path, read_only=True) as store:
        counts = store.sql(
            "SELECT (SELECT count(*) FROM deployment) AS d, (SELECT count(*) FROM flow_run) AS r"
        )
        for name, call in calls.items():
            times, cpu, rows = [], [], 0
            for _ in range(reps):
                started, used = time.perf_counter(), time.process_time()
                rows = call(store).height
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - used)
            results[name] = {"best": min(times), "cpu": min(cpu), "rows": rows}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"deployments": counts["d"][0], "runs": counts["r"][0], "results": results, "peak_rss_mib": peak}


def machine() -> str:
    import duckdb
    import polars as pl

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores (shared with other jobs), {memory:.1f} GiB RAM, {platform.system()}; "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, Polars {pl.__version__}"
    )


def report(measured: dict, build_seconds: float | None, scale: float, loads: list[float]) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"# Run-history benchmark: {measured['deployments']:,} deployments / {measured['runs']:,} flow runs",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- commit: {commit}",
        f"- command: `python benchmarks/bench_history.py --scale {scale:g}`",
        f"- building the store inside DuckDB took {build_seconds:.1f} s (not timed below)"
        if build_seconds is not None
        else "- the store was built by an earlier run (`--store`)",
        f"- 1-minute load average before / after the measurements: {loads[0]:.1f} / {loads[1]:.1f} (2 cores)",
        "",
        "Each function runs in a fresh process on the file store opened read-only; time is the",
        "best wall-clock time of the repetitions, CPU the least CPU time the process used in one",
        "(all its threads; steadier than wall time on a shared machine: an idle 2-core machine",
        "takes between half of it and all of it), memory the peak RSS over all of them.",
        "",
        "| function | rows | time (s) | CPU (s) | target (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in measured["results"].items():
        target = TARGETS.get(name)
        goal = "" if target is None else f"< {target:g}"
        lines.append(f"| {name} | {result['rows']:,} | {result['best']:.2f} | {result['cpu']:.2f} | {goal} |")
    peak = measured["peak_rss_mib"]
    lines += ["", f"Peak RSS: {peak:,.0f} MiB (target < {PEAK_RSS_TARGET_GIB:g} GiB).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01, help="1 = 100,000 deployments (default 0.01)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per function (default 3)")
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--store", type=Path, help="keep the built store here and reuse it when present")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.reps)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.store or Path(folder) / "history.duckdb"
        build_seconds = None if path.exists() else build(path, max(int(100_000 * args.scale), 1))
        loads = [os.getloadavg()[0]]
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path), "--reps", str(args.reps)],
            capture_output=True,
            text=True,
            check=True,
        )
        loads.append(os.getloadavg()[0])
        text = report(json.loads(child.stdout), build_seconds, args.scale, loads)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
