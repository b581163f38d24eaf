"""Import 1,000,000 flow runs from a Prefect 3.x server on PostgreSQL, then sync 1% changed rows.

Starts a throwaway PostgreSQL cluster (``scripts/pg_cluster.py``), restores the real
Prefect 3.x dump of the fixtures, grows ``flow_run`` to ``--rows`` rows (and
``task_run`` to one task run per 20 flow runs) inside PostgreSQL with
``generate_series`` (varied ids, names, flows and deployments, states and times), then
times, each in a fresh child process whose peak RSS is measured, both the call itself and
the whole process (which adds the interpreter's start, the imports and the store's
opening, about a second; the targets are judged on the calls, the other figures are given
beside them):

1. ``import_prefect_db(store, url)`` into a new file store (target: under 30 s, peak
   RSS under 2 GiB);
2. a first ``sync_prefect(store, url)`` into that store: it has no watermark yet, so it
   reads every row and finds them all unchanged;
3. ``UPDATE`` of 1% of the flow runs (``updated = now()``, a new state), then
   ``sync_prefect`` again: only the changed rows are read and written (target: under
   10% of the import's time). This short step is run ``--repeat`` times, each from a
   copy of the store as the first sync left it, and the median call is reported.

Usage::

    python benchmarks/bench_pg_import.py [--rows 1000000] [--quick] [--repeat 3] [--write] [--cache DIR]

``--quick`` uses 50,000 rows; ``--write`` puts the figures, with the machine, into
``benchmarks/IMPORT_RESULTS.md`` (between this script's markers). ``--cache DIR``
keeps a copy of the grown cluster's data directory in ``DIR`` (one per row count,
dump and growing SQL) and starts later runs from a copy of it instead of growing
the source again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DUMP = ROOT / "tests" / "fixtures" / "prefect-3.x" / "prefect.pg.sql.gz"
RESULTS = ROOT / "benchmarks" / "IMPORT_RESULTS.md"
BEGIN, END = "<!-- bench_pg_import: begin -->", "<!-- bench_pg_import: end -->"
STATES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED", "RUNNING", "SCHEDULED", "PENDING")
TASKS_PER_RUN = 20
"""One task run per this many flow runs ("proportionally few")."""

GROW = """
CREATE TEMP TABLE dk_dep AS
    SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, flow_id FROM deployment;
INSERT INTO flow_run (
    id, created, updated, name, state_type, state_name, state_timestamp, run_count,
    expected_start_time, next_scheduled_start_time, start_time, end_time, total_run_time,
    parameters, idempotency_key, empirical_policy, tags, auto_scheduled, flow_id,
    deployment_id, work_queue_name, created_by, job_variables
)
SELECT
    gen_random_uuid(),
    t0 + g * interval '30 seconds',
    t0 + g * interval '30 seconds' + interval '5 minutes',
    'bench-run-' || g,
    st::state_type,
    initcap(st),
    t0 + g * interval '30 seconds' + interval '4 minutes',
    CASE WHEN st IN ('SCHEDULED', 'PENDING') THEN 0 ELSE 1 END,
    t0 + g * interval '30 seconds',
    CASE WHEN st = 'SCHEDULED' THEN t0 + g * interval '30 seconds' END,
    CASE WHEN st IN ('SCHEDULED', 'PENDING') THEN NULL
         ELSE t0 + g * interval '30 seconds' + interval '1 second' END,
    CASE WHEN st IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')
         THEN t0 + g * interval '30 seconds' + (g %% 600) * interval '1 second' END,
    CASE WHEN st IN ('SCHEDULED', 'PENDING') THEN interval '0' ELSE (g %% 600) * interval '1 second' END,
    jsonb_build_object('n', g, 'mode', CASE WHEN g %% 2 = 0 THEN 'full' ELSE 'incremental' END),
    'bench-' || g,
    '{"retries": 0, "retry_delay": 0, "pause_keys": [], "resuming": false}'::jsonb,
    jsonb_build_array('bench', 't' || (g %% 10)),
    g %% 2 = 0,
    d.flow_id,
    d.id,
    'default',
    NULL,
    '{}'::jsonb
FROM generate_series(1, %(runs)s) AS g
CROSS JOIN LATERAL (SELECT (ARRAY%(states)s)[1 + g %% %(nstates)s] AS st) s
CROSS JOIN (SELECT now() - %(runs)s * interval '30 seconds' - interval '1 hour' AS t0) t
JOIN dk_dep d ON d.k = g %% (SELECT count(*) FROM dk_dep);
INSERT INTO task_run (
    id, created, updated, name, state_type, state_name, state_timestamp, run_count,
    expected_start_time, start_time, end_time, total_run_time, task_key, dynamic_key,
    empirical_policy, task_inputs, tags, flow_run_id, flow_run_run_count
)
SELECT
    gen_random_uuid(), r.created, r.updated, 'bench-task-' || r.name, r.state_type, r.state_name,
    r.state_timestamp, r.run_count, r.expected_start_time, r.start_time, r.end_time,
    r.total_run_time, 'bench.task', '0', '{}'::jsonb, '{"x": []}'::jsonb, '[]'::jsonb, r.id, 1
FROM flow_run r
WHERE r.name LIKE 'bench-run-%%' AND substr(r.name, 11)::bigint %% %(per)s = 0;
"""

SECONDARY_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND tablename IN ('flow_run', 'task_run')
AND indexname NOT IN (SELECT conname FROM pg_constraint)
"""
"""The run tables' indexes that back no constraint: dropped while growing, built again after."""

CHANGE = """
UPDATE flow_run SET updated = now(), state_type = 'COMPLETED', state_name = 'Completed',
    end_time = now(), state_timestamp = now()
WHERE id IN (SELECT id FROM flow_run ORDER BY id LIMIT %(n)s);
"""

CHILD = """
import json, sys, time
import deploykit as dk
from deploykit.io import import_prefect_db, sync_prefect
kind, url, store_path = sys.argv[1:4]
with dk.Store(store_path) as store:
    start = time.perf_counter()
    if kind == "import":
        report = import_prefect_db(store, url, progress=False)
    else:
        report = sync_prefect(store, url, progress=False)
    call = time.perf_counter() - start
counts = report.counts()["flow_run"] if report.synced else {"inserted": report.inserted["flow_run"]}
print(json.dumps({"call": call, "flow_run": counts}), flush=True)
"""
"""A child's work: the call timed on its own (no interpreter start, imports or store opening)."""


class Step(NamedTuple):
    """One child's figures."""

    call: float
    """Seconds of the ``import_prefect_db`` / ``sync_prefect`` call itself."""
    wall: float
    """Seconds of the whole child process: interpreter, imports, store, call, exit."""
    rss: float
    """Peak RSS of the child, MiB."""
    cpu: float
    """CPU seconds of the child (user + system)."""
    counts: str
    """The child's report of ``flow_run``."""


def machine() -> str:
    """nproc, CPU model and RAM of this machine, and the software versions."""
    import duckdb
    import polars
    import psycopg

    model = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return (
        f"{model}, {os.cpu_count()} cores (nproc), {kib / 2**20:.1f} GiB RAM, {platform.system()}; "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, Polars {polars.__version__}, "
        f"psycopg {psycopg.__version__}"
    )


def execute(url: str, sql: str) -> None:
    """Run SQL statements in one session, committing each (no time limit: growing takes minutes)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)


def grow(url: str, runs: int) -> None:
    """Add ``runs`` flow runs (and their task runs) to the source, as fast as PostgreSQL allows.

    The rows are consistent by construction, so foreign-key triggers are off while they go
    in (``session_replication_role = replica``); the run tables' secondary indexes (26 on
    ``flow_run``, a trigram one among them) are dropped first and built again after in one
    sorted pass each, rather than maintained row by row. The source ends up as Prefect
    would have it: the same rows, the same indexes.
    """
    import psycopg

    states = "[" + ", ".join(f"'{s}'" for s in STATES) + "]"
    sql = GROW % {"runs": runs, "states": states, "nstates": len(STATES), "per": TASKS_PER_RUN}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = conn.execute(SECONDARY_INDEXES).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("ANALYZE")


def child_env() -> dict[str, str]:
    """The children's environment: this checkout first, byte code cached (as an installed
    package has it) in a folder of the benchmark's own, never in the virtual environment."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "dk-bench-pyc"),
    }


def warm_up() -> None:
    """Compile the children's modules once, so no child pays for it."""
    code = "import deploykit, deploykit.io, psycopg, pyarrow"
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True)


def run_child(kind: str, url: str, store: Path) -> Step:
    """Import or sync in a fresh process.

    The files the previous step wrote are flushed to disk first (``os.sync``), so that no
    step pays for writing back another's pages.
    """
    os.sync()
    start = time.perf_counter()
    command = [sys.executable, "-c", CHILD, kind, url, str(store)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env())
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} failed")
    told = json.loads(out.strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Step(told["call"], wall, usage.ru_maxrss / 1024, cpu, str(told["flow_run"]))


@contextmanager
def source(rows: int, cache: Path | None) -> Iterator[tuple[Any, str, float | None]]:
    """A running cluster whose database ``bench`` holds ``rows`` flow runs: (cluster, url,
    seconds spent growing it, None when started from ``cache``)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from pg_cluster import PgCluster

    key = hashlib.sha256(DUMP.read_bytes() + GROW.encode() + str(rows).encode()).hexdigest()[:16]
    saved = None if cache is None else cache / f"pg-{rows}-{key}"
    if saved is not None and saved.is_dir():
        with PgCluster("postgres", from_datadir=saved) as pg:
            yield pg, pg.url_for("bench"), None
        return
    with PgCluster("postgres") as pg:
        url = pg.restore(DUMP, "bench")
        existing = int(pg.psql("SELECT count(*) FROM flow_run", "bench").strip())
        started = time.perf_counter()
        grow(url, rows - existing)
        made = time.perf_counter() - started
        if saved is not None:
            pg.save_datadir(saved)
        yield pg, url, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="flow runs in the source (default 1,000,000)"
    )
    parser.add_argument("--quick", action="store_true", help="50,000 rows: a check that it all works")
    parser.add_argument(
        "--repeat", type=int, default=3, help="times the 1%% sync is run (the median is reported; default 3)"
    )
    parser.add_argument("--write", action="store_true", help=f"write the figures into {RESULTS.name}")
    parser.add_argument("--cache", type=Path, help="keep (and reuse) the grown cluster's data directory here")
    args = parser.parse_args()
    rows = 50_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp, source(rows, args.cache) as (pg, url, made):
        counts = pg.psql(
            "SELECT (SELECT count(*) FROM flow_run) || ' ' || (SELECT count(*) FROM task_run)", "bench"
        )
        runs, tasks = (int(x) for x in counts.split())
        how = "from the cache" if made is None else f"made in {made:.0f} s"
        print(f"source: {runs:,} flow runs, {tasks:,} task runs ({how})", flush=True)
        store = Path(tmp) / "store.duckdb"
        warm_up()
        full = run_child("import", url, store)
        print(f"import_prefect_db: {full}", flush=True)
        first = run_child("sync", url, store)
        print(f"first sync_prefect: {first}", flush=True)
        changed = runs // 100
        synced = store.with_name("synced.duckdb")
        shutil.copyfile(store, synced)
        syncs = []
        for _ in range(args.repeat):  # each from the store as the first sync left it
            shutil.copyfile(synced, store)
            execute(url, CHANGE % {"n": changed})
            syncs.append(run_child("sync", url, store))
            print(f"sync_prefect, 1% changed: {syncs[-1]}", flush=True)
        sync = sorted(syncs)[len(syncs) // 2]  # the median call
    steps = [
        ("`import_prefect_db(store, url)`, fresh file store", runs, full),
        ("first `sync_prefect` (no watermark yet: reads all, all unchanged)", runs, first),
        (f"`sync_prefect` after 1% of flow runs changed (median of {len(syncs)})", changed, sync),
    ]
    table = "\n".join(
        [
            "| step | flow runs read | the call (s) | whole process (s) | CPU of the process (s) "
            "| peak RSS (MiB) | child's report (flow_run) |",
            "|---|---:|---:|---:|---:|---:|---|",
            *(
                f"| {name} | {n:,} | {step.call:.1f} | {step.wall:.1f} | {step.cpu:.1f} | {step.rss:.0f} "
                f"| {step.counts} |"
                for name, n, step in steps
            ),
        ]
    )
    print(f"\n{table}\n\n{targets(full, sync)}")
    if args.write:
        write_results(table, runs, tasks, full, sync, made)


def targets(full: Step, sync: Step) -> str:
    """The issue's targets, judged on the calls (the whole processes' ratio given beside)."""
    ratio, whole = sync.call / full.call, sync.wall / full.wall
    return (
        f"Targets, on the calls: import under 30 s ({'met' if full.call < 30 else 'missed'}: "
        f"{full.call:.1f} s; {full.wall:.1f} s for the whole process), peak RSS under 2 GiB "
        f"({'met' if full.rss < 2048 else 'missed'}: {full.rss:.0f} MiB), incremental sync under 10% "
        f"of the import ({'met' if ratio < 0.10 else 'missed'}: {ratio:.1%}; whole processes, which "
        f"add the interpreter's start, the imports and the store's opening to both: {whole:.1%})."
    )


def write_results(table: str, runs: int, tasks: int, full: Step, sync: Step, made: float | None) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    grown = "reused from --cache" if made is None else f"grown in {made:.0f} s"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    section = "\n".join(
        [
            BEGIN,
            f"## PostgreSQL (Prefect 3.x server database): {runs:,} flow runs",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine()}",
            f"- commit: {commit.stdout.strip() or 'unknown'}",
            f"- command: `python benchmarks/bench_pg_import.py {' '.join(sys.argv[1:])}`",
            f"- source: the Prefect 3.x fixture dump restored into a throwaway cluster, grown inside "
            f"PostgreSQL to {runs:,} flow runs and {tasks:,} task runs ({grown})",
            f"- load average (1, 5, 15 min) when the figures were written: {load}",
            "",
            "Each step runs in a fresh child process, after the previous step's files were flushed to "
            "disk. *The call* is the `import_prefect_db` / `sync_prefect` call timed inside the "
            "child; *whole process* adds the interpreter's start, the imports (about 1 s), opening "
            "the store and exiting. CPU is the child's (user + system; the PostgreSQL server's own "
            "work is not part of it), RSS the child's peak. The machine's cores are shared with "
            "other jobs: the wall-clock times grow with the load, the CPU times much less.",
            "",
            table,
            "",
            targets(full, sync),
            END,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
