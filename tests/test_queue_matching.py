"""check_work_queues_for_deployment and queue_matches: the legacy queue-match rules."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

import polars as pl
import pytest
from tests_support import new_deployment

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import work_pools, work_queues

QUEUE_TAGS = [None, [], ["a"], ["a", "b"], ["c"]]
DEPLOYMENT_TAGS = [[], ["a"], ["b"], ["a", "b"], ["a", "b", "c"]]


def reference_match(queue_filter: dict | None, dep_id: UUID, dep_tags: list[str], runner: str | None) -> bool:
    """SPEC.md section 2, written out plainly: None or [] means no restriction."""
    if queue_filter is None:
        return True
    tags = queue_filter.get("tags") or []
    ids = queue_filter.get("deployment_ids") or []
    runners = queue_filter.get("flow_runner_types") or []
    return set(tags) <= set(dep_tags) and (not ids or dep_id in ids) and (not runners or runner in runners)


@pytest.mark.parametrize("dep_tags", DEPLOYMENT_TAGS)
def test_tag_matrix(store, flow, dep_tags):
    for i, tags in enumerate(QUEUE_TAGS):
        work_queues.create_work_queue(store, dk.WorkQueue(name=f"q{i}", filter={"tags": tags}))
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, tags=dep_tags))
    got = set(D.check_work_queues_for_deployment(store, dep.id)["name"])
    expected = {
        f"q{i}"
        for i, tags in enumerate(QUEUE_TAGS)
        if reference_match({"tags": tags}, dep.id, dep_tags, None)
    }
    assert got == expected | {"default"}


def test_deployment_id_matrix(store, flow):
    a = D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, tags=["x"]))
    b = D.create_deployment(store, dk.Deployment(name="b", flow_id=flow.id, tags=["x"]))
    filters = {
        "ids-none": {"tags": ["x"], "deployment_ids": None},
        "ids-empty": {"tags": ["x"], "deployment_ids": []},
        "ids-a": {"tags": ["x"], "deployment_ids": [a.id]},
        "ids-b-other": {"tags": [], "deployment_ids": [b.id, uuid4()]},
        "ids-a-wrong-tag": {"tags": ["y"], "deployment_ids": [a.id]},
    }
    for name, flt in filters.items():
        work_queues.create_work_queue(store, dk.WorkQueue(name=name, filter=flt))
    for dep in (a, b):
        got = set(D.check_work_queues_for_deployment(store, dep.id)["name"]) - {"default"}
        expected = {n for n, f in filters.items() if reference_match(f, dep.id, ["x"], None)}
        assert got == expected, dep.name


@pytest.mark.parametrize("runner", [None, "docker", "kubernetes"])
def test_flow_runner_types(store, flow, runner):
    kinds = {"any": None, "none": [], "docker": ["docker"], "docker-or-k8s": ["docker", "kubernetes"]}
    for name, types in kinds.items():
        work_queues.create_work_queue(store, dk.WorkQueue(name=name, filter={"flow_runner_types": types}))
    runner_settings = None if runner is None else {"type": runner, "config": {}}
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, flow_runner=runner_settings))
    got = set(D.check_work_queues_for_deployment(store, dep.id)["name"]) - {"default"}
    expected = {n for n, t in kinds.items() if reference_match({"flow_runner_types": t}, dep.id, [], runner)}
    assert got == expected


def test_null_filter_queues_in_every_pool_match(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    work_queues.create_work_queue(store, dk.WorkQueue(name="default-like", work_pool_id=pool.id))
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, tags=["z"]))
    got = D.check_work_queues_for_deployment(store, dep.id)
    # the default-agent-pool is only created on first need: this deployment names no queue
    assert set(zip(got["work_pool_name"], got["name"], strict=True)) == {
        ("k8s", "default"),
        ("k8s", "default-like"),
    }


def test_unknown_deployment_raises(store):
    with pytest.raises(dk.ObjectNotFoundError):
        D.check_work_queues_for_deployment(store, uuid4())


def test_no_match_gives_empty_frame_with_queue_columns(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    # no pool yet: no queue at all
    got = D.check_work_queues_for_deployment(store, dep.id)
    assert got.height == 0 and {"id", "name", "filter", "work_pool_name"} <= set(got.columns)


def test_matrix_agrees_with_per_deployment_checks(store, flow):
    combos = list(itertools.product(QUEUE_TAGS, [None, ["docker"]]))
    for i, (tags, runners) in enumerate(combos):
        work_queues.create_work_queue(
            store, dk.WorkQueue(name=f"q{i}", filter={"tags": tags, "flow_runner_types": runners})
        )
    for i, tags in enumerate(DEPLOYMENT_TAGS):
        new_deployment(
            store,
            flow,
            f"d{i}",
            tags=tags,
            work_queue_name="q0",
            flow_runner={"type": "docker"} if i % 2 else None,
        )
    matrix = D.queue_matches(store)
    n_queues = work_queues.read_work_queues(store).height
    assert matrix.height == len(DEPLOYMENT_TAGS) * n_queues
    for dep_id in matrix["deployment_id"].unique():
        from_matrix = set(
            matrix.filter((pl.col("deployment_id") == dep_id) & pl.col("matches"))["work_queue_id"]
        )
        assert from_matrix == set(D.check_work_queues_for_deployment(store, dep_id)["id"])
    assigned = matrix.filter("assigned")
    assert set(assigned["work_queue_name"]) == {"q0"} and assigned.height == len(DEPLOYMENT_TAGS)
    missing = matrix.filter((pl.col("deployment_name") == "d0") & (pl.col("work_queue_name") == "q6"))
    assert missing["missing_tags"].to_list() == [["a", "b"]]


def test_matrix_filters(store, flow):
    work_queues.create_work_queue(store, dk.WorkQueue(name="etl"))
    for name in ("a", "b"):
        D.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id))
    m = D.queue_matches(
        store, deployment_filter={"name": {"any_": ["a"]}}, work_queue_filter={"name": {"any_": ["etl"]}}
    )
    assert m.select("deployment_name", "work_queue_name").rows() == [("a", "etl")]


def test_sorted_matrix_order(store, flow):
    # sort=True: deployment name, then pool name, queue priority and queue name.
    for pool_name in ("zeta", "alpha"):
        pool = work_pools.create_work_pool(store, dk.WorkPool(name=pool_name))
        for queue_name, priority in (("b", 3), ("a", 5), ("c", 2)):
            work_queues.create_work_queue(
                store, dk.WorkQueue(name=queue_name, work_pool_id=pool.id, priority=priority)
            )
    for name in ("m", "c", "x", "a"):
        D.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id))
    queues = work_queues.read_work_queues(store)
    priority = {q["id"]: q["priority"] for q in queues.iter_rows(named=True)}
    matrix = D.queue_matches(store, sort=True)
    assert matrix.height == 4 * queues.height
    rows = matrix.select("deployment_name", "work_pool_name", "work_queue_name", "work_queue_id").rows()
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], priority[r[3]], r[2]))
    assert [r[:3] for r in rows[:4]] == [("a", "alpha", q) for q in ("default", "c", "b", "a")]
