"""Bad input: a clear error naming the field and value, and the store exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError
from tests_support import assert_unchanged_after

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, task_runs, work_pools, work_queues


@pytest.mark.parametrize("bad", ["a/b", "50%", "x&y", "<tag>", "a>b", ""])
@pytest.mark.parametrize("model", [dk.Flow, dk.WorkPool, dk.WorkQueue])
def test_invalid_names(model, bad):
    with pytest.raises(ValidationError, match="name") as info:
        model(name=bad)
    if bad:
        assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["a/b", "x%", "&"])
def test_invalid_deployment_names(bad):
    with pytest.raises(ValidationError, match="name"):
        dk.Deployment(name=bad, flow_id=uuid4())


@pytest.mark.parametrize(
    "model,kwargs,field",
    [
        (dk.Deployment, {"name": "d", "flow_id": uuid4(), "colour": "red"}, "colour"),
        (dk.Deployment, {"name": "d", "flow_id": "not-a-uuid"}, "flow_id"),
        (dk.Deployment, {"name": "d", "flow_id": uuid4(), "tags": "prod"}, "tags"),
        (dk.Deployment, {"name": "d", "flow_id": uuid4(), "created": datetime(2023, 1, 1)}, "created"),
        (dk.Deployment, {"name": "d", "flow_id": uuid4(), "schedule": {"cron": "61 * * * *"}}, "cron"),
        (dk.WorkPool, {"name": "p", "concurrency_limit": -1}, "concurrency_limit"),
        (dk.WorkQueue, {"name": "q", "priority": 0}, "priority"),
        (dk.WorkQueue, {"name": "q", "filter": {"tags": ["a"], "owner": "x"}}, "owner"),
        (dk.FlowRun, {"flow_id": uuid4(), "state_type": "DONE"}, "state_type"),
        (dk.FlowRun, {"flow_id": uuid4(), "start_time": datetime(2023, 1, 1)}, "start_time"),
        (dk.DeploymentUpdate, {"work_pool_name": "a/b"}, "work_pool_name"),
        (dk.DeploymentUpdate, {"flow_id": uuid4()}, "flow_id"),
    ],
)
def test_models_name_the_bad_field(model, kwargs, field):
    with pytest.raises(ValidationError, match=field):
        model(**kwargs)


def test_operations_reject_bad_arguments_without_writes(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="q"))
    cases = [
        (lambda: D.read_deployments(store, limit=-1), ValueError, "limit"),
        (lambda: D.read_deployments(store, offset="3"), ValueError, "offset"),
        (lambda: D.read_deployments(store, deployment_filter={"nmae": {}}), ValidationError, "nmae"),
        (lambda: D.read_deployments(store, flow_filter=dk.DeploymentFilter()), TypeError, "flow_filter"),
        (
            lambda: D.count_deployments(
                store, flow_run_filter={"start_time": {"after_": datetime(2023, 1, 1)}}
            ),
            ValidationError,
            "after_",
        ),
        (lambda: D.read_deployment(store, "nope"), ValueError, "deployment_id"),
        (
            lambda: D.update_deployment(store, dep.id, {"work_pool_name": "ghost"}),
            dk.ObjectNotFoundError,
            "ghost",
        ),
        (
            lambda: D.update_deployment(store, dep.id, {"is_schedule_active": None}),
            ValueError,
            "is_schedule_active",
        ),
        (
            lambda: D.create_deployment(store, dk.Deployment(name="x", flow_id=uuid4())),
            dk.IntegrityError,
            "flow_id",
        ),
        (lambda: flow_runs.create_flow_run(store, dk.FlowRun(flow_id=uuid4())), dk.IntegrityError, "flow_id"),
        (
            lambda: task_runs.create_task_run(store, dk.TaskRun(flow_run_id=uuid4(), task_key="t")),
            dk.IntegrityError,
            "flow_run_id",
        ),
        (
            lambda: work_queues.create_work_queue(store, dk.WorkQueue(name="z", work_pool_id=uuid4())),
            dk.ObjectNotFoundError,
            "work pool",
        ),
        (lambda: work_queues.create_work_queue(store, dk.WorkQueue(name="q")), dk.IntegrityError, "'q'"),
        (
            lambda: work_pools.create_work_pool(store, dk.WorkPool(name="default-agent-pool")),
            dk.IntegrityError,
            "default-agent-pool",
        ),
    ]
    for call, error, match in cases:
        assert_unchanged_after(store, call, error, match)


def test_bulk_upsert_rejects_bad_frames_without_writes(store, flow):
    import polars as pl

    good = {"name": ["a"], "flow_id": [str(flow.id)]}
    cases = [
        (pl.DataFrame(good | {"colour": ["red"]}), ValueError, "colour"),
        (pl.DataFrame({"name": ["a"]}), ValueError, "flow_id"),
        (pl.DataFrame({"name": ["a/b"], "flow_id": [str(flow.id)]}), ValueError, "a/b"),
        (pl.DataFrame({"name": ["a"], "flow_id": ["zzz"]}), ValueError, "zzz"),
        (pl.DataFrame({"name": ["a"], "flow_id": [str(uuid4())]}), dk.IntegrityError, "flow_id"),
        (pl.DataFrame({"name": ["a", "a"], "flow_id": [str(flow.id)] * 2}), dk.IntegrityError, "twice"),
        (pl.DataFrame(good | {"schedule": ['{"cron": "* * * * * * *"}']}), ValueError, "schedule.*cron"),
        (pl.DataFrame(good | {"parameters": ["[1, 2]"]}), ValueError, "parameters.*object"),
        (pl.DataFrame(good | {"parameters": ['{"a": ']}), ValueError, "parameters.*invalid"),
        (pl.DataFrame(good | {"flow_runner": ['{"type": 1}']}), ValueError, "flow_runner"),
    ]
    for frame, error, match in cases:
        assert_unchanged_after(store, lambda f=frame: D.create_deployments(store, f), error, match)


def test_flows_upsert_by_name_keeps_the_first(store):
    a = flows.create_flow(store, dk.Flow(name="f", tags=["x"]))
    b = flows.create_flow(store, dk.Flow(name="f", tags=["y"]))
    assert a == b


def test_bulk_upsert_deletes_auto_scheduled_runs_with_their_task_runs(store, flow):
    import polars as pl

    dep = D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, schedule={"cron": "0 * * * *"}))
    [run_id, *_] = D.schedule_runs(store, dep.id, start_time=datetime(2023, 1, 1, tzinfo=UTC))
    task_runs.create_task_run(store, dk.TaskRun(flow_run_id=run_id, task_key="t"))
    D.create_deployments(store, pl.DataFrame({"name": ["a"], "flow_id": [str(flow.id)], "tags": [["x"]]}))
    assert flow_runs.read_flow_runs(store).height == 0
    assert store.check_integrity().height == 0
    assert store.sql("SELECT count(*) AS n FROM task_run")["n"][0] == 0
