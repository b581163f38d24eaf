"""Write ``tests/fixtures/store-v1.duckdb``: a small store in the first released schema (v1).

The migration tests open a copy of this file with the current deploykit and check it is
upgraded intact. It must therefore be written by the *v1* code, not the current one:

    git worktree add /tmp/deploykit-v1 75bf391      # last commit with SCHEMA_VERSION = 1
    cd /tmp/deploykit-v1
    /work/main/.venv/bin/python /work/main/scripts/make_store_fixture.py tests/fixtures/store-v1.duckdb

(the script imports ``deploykit`` from the current directory). The store is built in a
scratch file, then copied (``COPY FROM DATABASE``, which keeps every constraint) into a
file with 16 KiB blocks so the fixture stays small (~0.4 MB instead of ~6 MB with
DuckDB's default 256 KiB blocks). Its content is fixed:
explicit ids, names and timestamps, so ``tests/test_reliability_migrations.py`` can
check exact values: 2 flows, 1 extra pool, 3 queues (two with filters), 4 deployments
(interval, cron, rrule, unscheduled), 9 flow runs (6 auto-scheduled, 3 finished) and
2 task runs.

Usage::

    python scripts/make_store_fixture.py OUT.duckdb
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path.cwd()))

import duckdb

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, task_runs, work_pools, work_queues

START = datetime(2023, 1, 1, tzinfo=UTC)


def _id(n: int) -> UUID:
    """A readable fixed id: ``00000000-0000-0000-0000-0000000000nn``."""
    return UUID(int=n)


def build(path: Path) -> None:
    """Populate a new store file at ``path`` with the fixture's fixed content."""
    with dk.Store(path) as store:
        etl = flows.create_flow(store, dk.Flow(id=_id(1), name="etl", tags=["prod"]))
        ml = flows.create_flow(store, dk.Flow(id=_id(2), name="ml-train"))
        pool = work_pools.create_work_pool(
            store, dk.WorkPool(id=_id(10), name="k8s", type="kubernetes", concurrency_limit=5)
        )
        work_queues.create_work_queue(
            store,
            dk.WorkQueue(id=_id(20), name="prod-q", filter={"tags": ["prod"]}, priority=2),
        )
        gpu_only = {"tags": ["gpu"], "flow_runner_types": ["kubernetes"]}
        work_queues.create_work_queue(
            store, dk.WorkQueue(id=_id(21), name="gpu", work_pool_id=pool.id, filter=gpu_only)
        )
        schedules = {
            "hourly": {"interval": 3600, "anchor_date": "2023-01-01T00:00:00Z"},
            "nightly": {"cron": "30 2 * * *", "timezone": "America/New_York"},
            "weekly": {"rrule": "DTSTART:20230102T060000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO"},
        }
        for n, (name, schedule) in enumerate(schedules.items(), start=30):
            D.create_deployment(
                store,
                dk.Deployment(
                    id=_id(n),
                    name=name,
                    flow_id=etl.id,
                    schedule=schedule,
                    tags=["prod", name],
                    parameters={"n": n, "label": f"{name} ü ✓"},
                    work_queue_name="prod-q",
                    description=f"the {name} run",
                ),
            )
        D.create_deployment(
            store,
            dk.Deployment(
                id=_id(33),
                name="adhoc",
                flow_id=ml.id,
                tags=["gpu"],
                flow_runner={"type": "kubernetes", "config": {"cpu": 2}},
                work_queue_name="gpu",
            ),
        )
        for n in (30, 31):
            D.schedule_runs(store, _id(n), start_time=START)
        for k, state in enumerate(["COMPLETED", "FAILED", "COMPLETED"]):
            run = flow_runs.create_flow_run(
                store,
                dk.FlowRun(
                    id=_id(40 + k),
                    name=f"manual-{k}",
                    flow_id=ml.id,
                    deployment_id=_id(33),
                    state_type=state,
                    state_name=state.title(),
                    start_time=START,
                    end_time=START,
                ),
            )
            if k < 2:
                task_runs.create_task_run(
                    store,
                    dk.TaskRun(id=_id(50 + k), flow_run_id=run.id, task_key=f"step-{k}"),
                )


def compact(source: Path, out: Path) -> None:
    """Copy the store at ``source`` into a new small-block file ``out`` (same schema and rows)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        con.execute(f"ATTACH '{out}' AS dst (BLOCK_SIZE 16384)")
        con.execute("COPY FROM DATABASE src TO dst")
    finally:
        con.close()


def main(argv: list[str]) -> int:
    """Build the fixture at ``argv[0]`` (which must not exist yet)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    if out.exists():
        print(f"{out} exists; remove it first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        full = Path(scratch) / "full.duckdb"
        build(full)
        compact(full, out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
