"""The Writer's one-row path (``write_row``, what every single-row ``create_*`` uses) stores
exactly the rows the staged batch path stores and refuses exactly what it refuses, with
the same error type and message (issue 11: one writer, two speeds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, task_runs, work_pools, work_queues
from deploykit.models.writer import TABLE_OF, Writer, _dtype, model_row, stored_fields
from deploykit.store import STORED_TABLES

STAMP = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ID = {name: UUID(int=i + 1) for i, name in enumerate(["pool", "queue", "flow", "dep", "run", "task", "s"])}
OTHER = UUID(int=99)
EVERY_MINUTE = {"interval": 60, "anchor_date": STAMP}


def _seeded() -> dk.Store:
    """A store with one row of each table, all ids and times fixed (two calls: equal stores)."""
    store = dk.Store()
    rows = [
        dk.WorkPool(id=ID["pool"], name="pool", type="k8s", default_queue_id=ID["queue"]),
        dk.WorkQueue(id=ID["queue"], name="q", work_pool_id=ID["pool"]),
        dk.Flow(id=ID["flow"], name="etl"),
        dk.Deployment(id=ID["dep"], name="d", flow_id=ID["flow"], tags=["a"], work_queue_id=ID["queue"]),
        dk.DeploymentSchedule(id=ID["s"], deployment_id=ID["dep"], schedule=EVERY_MINUTE),
        dk.FlowRun(id=ID["run"], name="r", flow_id=ID["flow"], idempotency_key="k"),
        dk.TaskRun(id=ID["task"], name="t", flow_run_id=ID["run"], task_key="t"),
    ]
    with store.transaction() as cur:
        writer = Writer(cur)
        for item in rows:
            writer.write_row(TABLE_OF[type(item)], model_row(item, STAMP), source="seed")
        writer.finish("seed")
    return store


def _frame(row: dict[str, Any], model: type) -> pl.DataFrame:
    """One row as the staged path takes it (ids as text), typed as ``rows_frame`` types it."""
    fields = [f for f in stored_fields(model) if f in row] + [f for f in row if f not in stored_fields(model)]
    schema = {f: _dtype(model, f) if f in model.model_fields else pl.String() for f in fields}
    data = {f: str(row[f]) if isinstance(row[f], UUID) else row[f] for f in fields}
    return pl.DataFrame([data], schema=schema, orient="row")


def _row(item: Any, **changes: Any) -> dict[str, Any]:
    row = model_row(item, STAMP)
    for name, value in changes.items():
        if value is _DROP:
            row.pop(name)
        else:
            row[name] = value
    return row


_DROP = object()


def _outcome(call: Callable[[], Any], store: dk.Store) -> tuple[Any, ...]:
    """What a write did: its counts and every table after it, or its error's type and message."""
    try:
        with store.transaction():
            counts = tuple(call())[:2]
    except Exception as exc:  # the comparison is of whatever either path raises
        return ("error", type(exc).__name__, str(exc))
    tables = {t: store.sql(f"SELECT * FROM {t} ORDER BY id").rows() for t in STORED_TABLES}
    return ("ok", counts, tables)


def _both(table: str, row: dict[str, Any], model: type, **options: Any) -> tuple[tuple, tuple]:
    staged, fast = _seeded(), _seeded()
    by_batch = _outcome(
        lambda: Writer(staged.cursor()).write(table, _frame(row, model), source="t", **options), staged
    )
    by_row = _outcome(lambda: Writer(fast.cursor()).write_row(table, dict(row), source="t", **options), fast)
    return by_batch, by_row


FLOW = dk.Flow(name="new", tags=["x"])
DEP = dk.Deployment(
    name="new", flow_id=ID["flow"], tags=["b"], parameters={"p": 1}, work_queue_id=ID["queue"]
)
QUEUE = dk.WorkQueue(name="q2", work_pool_id=ID["pool"], priority=3)
RUN = dk.FlowRun(name="r2", flow_id=ID["flow"], state_type="COMPLETED", idempotency_key="k2")
KEY = {"key": ("flow_id", "name")}

CASES: dict[str, tuple[str, dict[str, Any], type, dict[str, Any]]] = {
    "flow inserted": ("flow", _row(FLOW), dk.Flow, {}),
    "flow kept by name": ("flow", _row(FLOW, name="etl"), dk.Flow, {"key": ("name",), "update": ()}),
    "flow id of another name": ("flow", _row(FLOW, id=ID["flow"]), dk.Flow, {"key": ("name",)}),
    "flow bad name": ("flow", _row(FLOW, name="a/b"), dk.Flow, {}),
    "flow empty name": ("flow", _row(FLOW, name=""), dk.Flow, {}),
    "flow null tags": ("flow", _row(FLOW, tags=None), dk.Flow, {}),
    "flow without name": ("flow", _row(FLOW, name=_DROP), dk.Flow, {}),
    "flow unknown column": ("flow", _row(FLOW) | {"colour": "red"}, dk.Flow, {}),
    "flow bad JSON": ("flow", _row(FLOW, labels="{"), dk.Flow, {}),
    "flow NaN in JSON": ("flow", _row(FLOW, labels='{"a": NaN}'), dk.Flow, {}),
    "flow JSON with a trailing comma": ("flow", _row(FLOW, labels='{"a": 1,}'), dk.Flow, {}),
    "flow JSON with a lone surrogate": ("flow", _row(FLOW, labels='{"a": "\\ud800"}'), dk.Flow, {}),
    "flow JSON of the wrong kind": ("flow", _row(FLOW, labels="[1]"), dk.Flow, {}),
    "deployment inserted": ("deployment", _row(DEP), dk.Deployment, KEY),
    "deployment updated": (
        "deployment",
        _row(DEP, name="d", id=OTHER),
        dk.Deployment,
        KEY | {"update": {"tags", "parameters", "updated"}},
    ),
    "deployment updated, all columns": ("deployment", _row(DEP, name="d"), dk.Deployment, KEY),
    "deployment dangling flow": ("deployment", _row(DEP, flow_id=OTHER), dk.Deployment, KEY),
    "deployment dangling queue": ("deployment", _row(DEP, work_queue_id=OTHER), dk.Deployment, KEY),
    "deployment id of another": ("deployment", _row(DEP, id=ID["dep"]), dk.Deployment, KEY),
    "deployment queue by pool": (
        "deployment",
        _row(DEP, work_queue_id=None, work_pool_name="pool", work_queue_name="q"),
        dk.Deployment,
        KEY,
    ),
    "deployment queue missing in pool": (
        "deployment",
        _row(DEP, work_queue_id=None, work_pool_name="pool", work_queue_name="nope"),
        dk.Deployment,
        KEY,
    ),
    "deployment negative limit": ("deployment", _row(DEP, concurrency_limit=-1), dk.Deployment, KEY),
    "deployment limit too big": ("deployment", _row(DEP, concurrency_limit=2**40), dk.Deployment, KEY),
    "deployment parameters a list": ("deployment", _row(DEP, parameters="[1, 2]"), dk.Deployment, KEY),
    "deployment deep JSON": (
        "deployment",
        _row(DEP, parameters='{"a": ' * 300 + "1" + "}" * 300),
        dk.Deployment,
        KEY,
    ),
    "queue inserted": ("work_queue", _row(QUEUE), dk.WorkQueue, {"on_conflict": "error"}),
    "queue id used": ("work_queue", _row(QUEUE, id=ID["queue"]), dk.WorkQueue, {"on_conflict": "error"}),
    "queue name used in pool": ("work_queue", _row(QUEUE, name="q"), dk.WorkQueue, {"on_conflict": "error"}),
    "queue renamed": ("work_queue", _row(QUEUE, id=ID["queue"]), dk.WorkQueue, {}),
    "queue skipped": ("work_queue", _row(QUEUE, name="q"), dk.WorkQueue, {"on_conflict": "skip"}),
    "queue priority 0": ("work_queue", _row(QUEUE, priority=0), dk.WorkQueue, {}),
    "pool name used": ("work_pool", _row(dk.WorkPool(name="pool")), dk.WorkPool, {}),
    "run inserted": ("flow_run", _row(RUN), dk.FlowRun, {"on_conflict": "error"}),
    "run unknown state": ("flow_run", _row(RUN, state_type="DONE"), dk.FlowRun, {}),
    "run key used": ("flow_run", _row(RUN, idempotency_key="k"), dk.FlowRun, {"on_conflict": "error"}),
    "run key used, skipped": (
        "flow_run",
        _row(RUN, idempotency_key="k"),
        dk.FlowRun,
        {"on_conflict": "skip"},
    ),
    "run dangling flow": ("flow_run", _row(RUN, flow_id=OTHER), dk.FlowRun, {}),
    "task run skipped": (
        "task_run",
        _row(dk.TaskRun(name="t", flow_run_id=ID["run"], task_key="t"), id=ID["task"]),
        dk.TaskRun,
        {"on_conflict": "skip"},
    ),
    "task run key used": (
        "task_run",
        _row(dk.TaskRun(name="t2", flow_run_id=ID["run"], task_key="t")),
        dk.TaskRun,
        {"on_conflict": "error"},
    ),
    "schedule dangling deployment": (
        "deployment_schedule",
        _row(dk.DeploymentSchedule(deployment_id=OTHER, schedule={"cron": "0 * * * *"})),
        dk.DeploymentSchedule,
        {},
    ),
    "schedule updated": (
        "deployment_schedule",
        _row(
            dk.DeploymentSchedule(
                id=ID["s"],
                deployment_id=ID["dep"],
                schedule={"interval": 30, "anchor_date": STAMP},
                active=False,
            )
        ),
        dk.DeploymentSchedule,
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_row_path_writes_and_refuses_as_the_batch_path(case):
    table, row, model, options = CASES[case]
    by_batch, by_row = _both(table, row, model, **options)
    assert by_row == by_batch


def test_single_row_creates_never_stage(store, monkeypatch):
    """Every single-row ``create_*`` takes the one-row path: staging would fail here."""

    def no_staging(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("staged")

    monkeypatch.setattr(Writer, "_stage", no_staging)
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="p"))
    queue = work_queues.create_work_queue(store, dk.WorkQueue(name="q", work_pool_id=pool.id))
    flow = flows.create_flow(store, dk.Flow(name="f"))
    schedules = [{"schedule": {"interval": 60 * i}} for i in range(1, 4)]
    dep = D.create_deployment(
        store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="x", schedules=schedules)
    )
    again = D.create_deployment(
        store, dk.Deployment(name="d", flow_id=flow.id, tags=["t"], schedules=schedules[:2])
    )
    run = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id))
    task_runs.create_task_run(store, dk.TaskRun(flow_run_id=run.id, task_key="t"))
    assert D.update_deployment(store, dep.id, dk.DeploymentUpdate(schedule={"cron": "0 * * * *"}))
    assert queue.work_pool_id == pool.id and again.id == dep.id and len(again.schedules) == 2


@pytest.mark.parametrize("existing", [False, True])
def test_create_deployment_returns_what_a_read_gives(store, flow, existing):
    """No read back: the returned model is built from the write, and equals a fresh read."""
    if existing:
        D.create_deployment(
            store, dk.Deployment(name="d", flow_id=flow.id, tags=["old"], work_queue_name="q")
        )
    many = [
        {"schedule": {"interval": 3600}, "parameters": {"b": 3}},
        {"schedule": {"cron": "0 9 * * *"}, "active": False},
    ]
    given = dk.Deployment(
        name="d", flow_id=flow.id, tags=["new"], schedules=many, paused=True, labels={"a": 1}
    )
    made = D.create_deployment(store, given)
    assert made == D.read_deployment(store, made.id)
    kept = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, description="x"))
    assert kept == D.read_deployment(store, made.id) and len(kept.schedules) == 2
    assert kept.work_pool_name == ("default-agent-pool" if existing else None)
