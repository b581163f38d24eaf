"""Arguments of the operations (issue 15, item 7): models as dicts, reused ids, bad ids,
ids in braces, and counts beyond DuckDB's BIGINT, each a clear error naming the argument."""

from __future__ import annotations

import re
from uuid import uuid4

import polars as pl
import pytest
from conftest import assert_unchanged, snapshot

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, task_runs, work_pools, work_queues


def test_every_create_accepts_a_dict(store):
    flow = flows.create_flow(store, {"name": "etl", "tags": ["a"]})
    pool = work_pools.create_work_pool(store, {"name": "k8s", "type": "kubernetes"})
    queue = work_queues.create_work_queue(store, {"name": "q", "work_pool_id": str(pool.id)})
    run = flow_runs.create_flow_run(store, {"flow_id": str(flow.id), "state_type": "RUNNING"})
    task = task_runs.create_task_run(store, {"flow_run_id": str(run.id), "task_key": "t"})
    assert (flow.tags, pool.type, queue.work_pool_id, run.state_type, task.task_key) == (
        ["a"],
        "kubernetes",
        pool.id,
        dk.StateType.RUNNING,
        "t",
    )


CREATES = {
    "flow": lambda s, f, used: flows.create_flow(s, dk.Flow(id=used, name="other")),
    "work_pool": lambda s, f, used: work_pools.create_work_pool(s, dk.WorkPool(id=used, name="other")),
    "work_queue": lambda s, f, used: work_queues.create_work_queue(s, {"id": used, "name": "other"}),
    "flow_run": lambda s, f, used: flow_runs.create_flow_run(s, dk.FlowRun(id=used, flow_id=f.id)),
}


@pytest.mark.parametrize("table", sorted(CREATES))
def test_reusing_an_existing_id_is_an_integrity_error_naming_it(store, flow, table):
    used = {
        "flow": lambda: flow.id,
        "work_pool": lambda: work_pools.ensure_default_work_pool(store).id,
        "work_queue": lambda: work_queues.ensure_work_queue_exists(store, "default").id,
        "flow_run": lambda: flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id)).id,
    }[table]()
    before = snapshot(store)
    with pytest.raises(dk.IntegrityError, match=str(used)):
        CREATES[table](store, flow, used)
    assert_unchanged(before, store)


@pytest.mark.parametrize(
    ("read", "argument"),
    [
        (flows.read_flow, "flow_id"),
        (work_queues.read_work_queue, "work_queue_id"),
        (flow_runs.read_flow_run, "flow_run_id"),
        (work_pools.read_work_pool, "work_pool_id"),
        (task_runs.read_task_run, "task_run_id"),
        (D.read_deployment, "deployment_id"),
    ],
)
def test_a_bad_id_names_the_argument(store, read, argument):
    for bad in ["nope", "", 42, "urn:uuid:" + str(uuid4())]:
        with pytest.raises(ValueError, match=argument):
            read(store, bad)


def test_ids_in_braces_are_read_the_same_everywhere(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    run = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id))
    assert flows.read_flow(store, "{" + str(flow.id).upper() + "}") == flow
    assert D.read_deployment(store, "{" + str(dep.id) + "}") == dep
    assert flow_runs.read_flow_run(store, "{" + str(run.id) + "}") == run
    assert flow_runs.read_flow_run(store, run.id.hex) == run
    frame = pl.DataFrame({"name": ["e"], "flow_id": ["{" + str(flow.id) + "}"]})
    assert D.create_deployments(store, frame) == 1


@pytest.mark.parametrize("argument", ["limit", "offset"])
def test_counts_beyond_bigint_name_the_argument(store, argument):
    for read in (D.read_deployments, flow_runs.read_flow_runs):
        with pytest.raises(ValueError, match=argument):
            read(store, **{argument: 2**63})
    assert D.read_deployments(store, limit=2**63 - 1).height == 0


@pytest.mark.parametrize(
    ("create", "field", "value"),
    [
        (
            lambda s, f, v: flows.create_flow(s, {"name": "g", "created": v}),
            "Flow.created",
            "0001-01-01T00:00:00+14:00",
        ),
        (
            lambda s, f, v: flow_runs.create_flow_run(s, {"flow_id": str(f.id), "expected_start_time": v}),
            "FlowRun.expected_start_time",
            "9999-12-31T23:00:00-14:00",
        ),
        (
            lambda s, f, v: D.create_deployment(s, {"name": "d", "flow_id": str(f.id), "updated": v}),
            "Deployment.updated",
            "9999-12-31T23:59:59-01:00",
        ),
    ],
)
def test_a_time_beyond_year_9999_or_before_year_1_in_utc_names_its_field(store, flow, create, field, value):
    """An offset can carry a valid datetime out of Python's years in UTC: a ValueError naming
    the field and value, not a raw OverflowError."""
    before = snapshot(store)
    with pytest.raises(ValueError, match=rf"^{field} {re.escape(value)} is out of range"):
        create(store, flow, value)
    assert_unchanged(before, store)
