"""Atomicity under SIGKILL: a process killed at a random moment of ``schedule_all``, a large
``import_parquet`` or a bulk ``create_deployments`` leaves the store file either exactly
as before the operation or exactly as after it, never in between.

How: a base store file is built once; a dry run of each operation (in a child process)
gives its duration and the fingerprint of the finished state. Then, in a bounded loop,
a child opens a copy of the store, runs the operation, and is SIGKILLed after a random
delay (seeded, drawn from the dry run's duration); three such kills run at once, each on
its own copy. The parent reopens the file with
``Store`` and checks: the fingerprint (row counts plus a hash of every deterministic
column) equals the "before" or the "after" one, ``check_integrity()`` is empty, and
every key is unique.

Children are forked from a ``multiprocessing`` fork server that has already imported
deploykit (0.2 s per child instead of seconds of imports). ``DEPLOYKIT_KILLS`` (default
60, at least 50 landing while the operation runs) and ``DEPLOYKIT_KILL_SEED`` (default
7) scale and vary the run; maintainers can run e.g. ``DEPLOYKIT_KILLS=600``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import deploykit as dk
from deploykit.io import export_parquet, import_parquet
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows

KILLS = int(os.environ.get("DEPLOYKIT_KILLS", "60"))
SEED = int(os.environ.get("DEPLOYKIT_KILL_SEED", "7"))
PARALLEL = 3
"""Kills in flight at once, each on its own copy of the store (keeps the file fast)."""
MIN_MID_OPERATION_KILLS = 50 if KILLS >= 50 else KILLS * 9 // 10

SCHEDULE_START = datetime(2024, 1, 1, tzinfo=UTC)
N_DEPLOYMENTS = 300

# Deterministic columns of each table (ids and timestamps made by now()/uuid() vary).
_FINGERPRINT_COLUMNS = {
    "flow": "name, tags",
    "work_pool": "name, type",
    "work_queue": "name, priority, filter",
    "deployment": "flow_id, name, description, tags, parameters, work_queue_name, paused",
    "deployment_schedule": "deployment_id, schedule, active, parameters",
    "flow_run": "flow_id, deployment_id, idempotency_key, state_type, scheduled_time, "
    "auto_scheduled, parameters",
    "task_run": "flow_run_id, task_key, dynamic_key, state_type",
}
_UNIQUE_KEYS = {
    "flow": ["id", "name"],
    "work_pool": ["id", "name"],
    "work_queue": ["id", "work_pool_id, name"],
    "deployment": ["id", "flow_id, name"],
    "flow_run": ["id", "flow_id, idempotency_key"],
    "task_run": ["id", "flow_run_id, task_key, dynamic_key"],
}


def fingerprint(store: dk.Store) -> dict[str, tuple[int, str]]:
    """Per table: row count and an md5 over the sorted deterministic columns."""
    out = {}
    for table, cols in _FINGERPRINT_COLUMNS.items():
        row = f"CAST(({cols}) AS VARCHAR)"
        got = store.sql(
            f"SELECT count(*) AS n, md5(coalesce(string_agg({row}, chr(10) ORDER BY {row}), '')) AS h "
            f"FROM {table}"
        )
        out[table] = (got["n"][0], got["h"][0])
    return out


def duplicate_keys(store: dk.Store) -> list[str]:
    """Keys (``table(cols)``) that hold a value twice; empty when uniqueness holds."""
    bad = []
    for table, keys in _UNIQUE_KEYS.items():
        for key in keys:
            dupes = store.sql(
                f"SELECT count(*) AS n FROM (SELECT {key} FROM {table} "
                f"WHERE ({key}) IS NOT NULL GROUP BY ALL HAVING count(*) > 1)"
            )["n"][0]
            if dupes:
                bad.append(f"{table}({key})")
    return bad


# --- the three operations, run in child processes -------------------------------------------


def _schedule_all(store: dk.Store, _: Any) -> None:
    D.schedule_all(store, start_time=SCHEDULE_START, min_time=timedelta(days=60), min_runs=50, max_runs=50)


def _import(store: dk.Store, folder: str) -> None:
    import_parquet(store, folder, chunk_rows=5_000, progress=False)


def _upsert(store: dk.Store, frame: pl.DataFrame) -> None:
    D.create_deployments(store, frame)


OPERATIONS: dict[str, Callable[[dk.Store, Any], None]] = {
    "schedule_all": _schedule_all,
    "import_parquet": _import,
    "create_deployments": _upsert,
}


def _child(path: str, op: str, arg: Any, pipe: Connection) -> None:
    """Open the store, say "ready", run the operation, close, send its duration."""
    import threading
    import time

    from tqdm.auto import tqdm

    tqdm.set_lock(threading.RLock())  # not tqdm's default semaphore, which a kill would leak

    with dk.Store(path) as store:
        pipe.send("ready")
        start = time.perf_counter()
        OPERATIONS[op](store, arg)
    pipe.send(time.perf_counter() - start)


# --- data ---------------------------------------------------------------------------------------


def _build_base(path: Path) -> None:
    """Flows, 300 scheduled deployments in 3 queues, and their runs for January 2023."""
    with dk.Store(path) as store:
        ids = [str(flows.create_flow(store, dk.Flow(name=f"flow-{i}", tags=["t"])).id) for i in range(5)]
        schedules = [
            '{"interval": 3600, "anchor_date": "2023-01-01T00:00:00Z"}',
            '{"cron": "*/20 * * * *", "timezone": "Europe/Paris"}',
            '{"interval": 86400, "anchor_date": "2023-01-01T06:00:00Z", "timezone": "America/New_York"}',
        ]
        D.create_deployments(
            store,
            pl.DataFrame(
                {
                    "name": [f"dep-{i}" for i in range(N_DEPLOYMENTS)],
                    "flow_id": [ids[i % 5] for i in range(N_DEPLOYMENTS)],
                    "schedule": [schedules[i % 3] for i in range(N_DEPLOYMENTS)],
                    "tags": [["base", f"g{i % 7}"] for i in range(N_DEPLOYMENTS)],
                    "work_queue_name": [f"q{i % 3}" for i in range(N_DEPLOYMENTS)],
                    "parameters": [{"i": i} for i in range(N_DEPLOYMENTS)],
                }
            ),
        )
        D.schedule_all(store, start_time=datetime(2023, 1, 1, tzinfo=UTC), max_runs=10)


def _build_import_source(folder: Path) -> None:
    """A separate fleet (new ids) exported to Parquet: 2 flows, 200 deployments, 20k runs."""
    with dk.Store() as source:
        ids = [str(flows.create_flow(source, dk.Flow(name=f"imported-{i}")).id) for i in range(2)]
        D.create_deployments(
            source,
            pl.DataFrame(
                {
                    "name": [f"imp-{i}" for i in range(200)],
                    "flow_id": [ids[i % 2] for i in range(200)],
                    "description": ["imported " * 20] * 200,
                }
            ),
        )
        deps = source.sql("SELECT id::VARCHAR AS id, flow_id::VARCHAR AS flow_id FROM deployment")
        n = 20_000
        flow_runs.create_flow_runs(
            source,
            pl.DataFrame(
                {
                    "flow_id": [deps["flow_id"][i % 200] for i in range(n)],
                    "deployment_id": [deps["id"][i % 200] for i in range(n)],
                    "state_type": [("COMPLETED", "FAILED", "RUNNING")[i % 3] for i in range(n)],
                    "idempotency_key": [f"k{i}" for i in range(n)],
                    "parameters": [{"run": i} for i in range(n)],
                }
            ),
        )
        export_parquet(source, folder)


def _upsert_frame(base: Path) -> pl.DataFrame:
    """Every base deployment changed (their auto-scheduled runs go) plus 3000 new ones."""
    with dk.Store(base, read_only=True) as store:
        flow_ids = store.sql("SELECT id::VARCHAR AS id FROM flow ORDER BY name")["id"].to_list()
    n = N_DEPLOYMENTS + 3_000
    return pl.DataFrame(
        {
            "name": [f"dep-{i}" for i in range(n)],
            "flow_id": [flow_ids[i % 5] for i in range(n)],
            "description": [f"upserted {i}" for i in range(n)],
            "tags": [["upserted", f"h{i % 11}"] for i in range(n)],
            "work_queue_name": [f"q{i % 4}" for i in range(n)],
        }
    )


# --- the harness --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx() -> Iterator[Any]:
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["deploykit", "deploykit.io", "deploykit.models.deployments"])
    yield context


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("crash")
    base = root / "base.duckdb"
    _build_base(base)
    source = root / "export"
    _build_import_source(source)
    return {
        "root": root,
        "base": base,
        "args": {
            "schedule_all": None,
            "import_parquet": str(source),
            "create_deployments": _upsert_frame(base),
        },
    }


def _run(ctx: Any, path: Path, op: str, arg: Any, kill_after: float | None) -> tuple[bool, float]:
    """Run ``op`` on ``path`` in a child; SIGKILL it ``kill_after`` s after it is ready.

    Returns whether the child had finished before the kill, and its measured duration.
    """
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_child, args=(str(path), op, arg, theirs))
    child.start()
    theirs.close()
    try:
        assert ours.poll(60) and ours.recv() == "ready", f"{op} child did not open the store"
        finished = ours.poll(120 if kill_after is None else kill_after)
        child.kill()
        child.join(30)
        return finished, ours.recv() if finished else 0.0
    finally:
        ours.close()
        if child.is_alive():
            child.kill()
            child.join(30)


def _fresh_copy(base: Path, target: Path) -> None:
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(base, target)


def test_sigkill_leaves_each_operation_whole_or_absent(ctx, world):
    base: Path = world["base"]
    with dk.Store(base, read_only=True) as store:
        before = fingerprint(store)
    after: dict[str, dict[str, tuple[int, str]]] = {}
    duration: dict[str, float] = {}
    for op, arg in world["args"].items():
        path = world["root"] / f"dry-{op}.duckdb"
        _fresh_copy(base, path)
        finished, duration[op] = _run(ctx, path, op, arg, None)
        assert finished, f"{op} dry run failed"
        with dk.Store(path, read_only=True) as store:
            after[op] = fingerprint(store)
        assert after[op] != before, f"{op} changed nothing; the test would prove nothing"

    rng = random.Random(SEED)
    ops = list(OPERATIONS)
    plan = [(i, ops[i % len(ops)]) for i in range(KILLS)]
    delays = [rng.uniform(0, duration[op]) for _, op in plan]

    def kill_and_check(i: int, op: str) -> tuple[str, bool]:
        path = world["root"] / f"kill-{i}.duckdb"
        _fresh_copy(base, path)
        finished, _ = _run(ctx, path, op, world["args"][op], delays[i])
        with dk.Store(path) as store:
            state = fingerprint(store)
            assert state in (before, after[op]), f"kill {i} ({op}): partial state {state}"
            assert store.check_integrity().is_empty(), f"kill {i} ({op}): orphans"
            assert duplicate_keys(store) == [], f"kill {i} ({op}): duplicate keys"
        path.unlink()
        return ("applied" if state == after[op] else "absent"), finished

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda job: kill_and_check(*job), plan))
    outcomes = Counter((op, outcome) for (_, op), (outcome, _) in zip(plan, results, strict=True))
    mid_operation = sum(not finished for _, finished in results)

    print(
        f"\n{KILLS} SIGKILLs (seed {SEED}), {mid_operation} while the operation ran; "
        f"durations {', '.join(f'{k} {v:.2f}s' for k, v in duration.items())}; "
        f"outcomes {dict(sorted(outcomes.items()))}; nothing partial, no orphans, keys unique"
    )
    assert mid_operation >= MIN_MID_OPERATION_KILLS
    for op in ops:
        assert outcomes[op, "absent"] > 0, f"no kill of {op} landed before its commit"
