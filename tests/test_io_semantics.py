"""After an import, the seed's operations answer as Prefect would on that data.

Expected values are computed here with plain Python over the fixture's JSON bodies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests_support import imported_store

from deploykit.models import deployments as ops

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"


def bodies(kind: str) -> list[dict]:
    return json.loads((FIXTURES / f"api-{kind}.json").read_text())


DEPLOYMENTS = bodies("deployments")
FLOWS = {f["id"]: f for f in bodies("flows")}
POOLS = {p["id"]: p for p in bodies("work_pools")}
QUEUES = bodies("work_queues")
RUNS = bodies("flow_runs")


@pytest.fixture(scope="module")
def fleet():
    with imported_store(FIXTURES) as store:
        yield store


def test_read_deployment_by_name(fleet):
    for d in DEPLOYMENTS:
        got = ops.read_deployment_by_name(fleet, d["name"], FLOWS[d["flow_id"]]["name"])
        assert str(got.id) == d["id"]
    other_flow = next(f["name"] for f in FLOWS.values() if f["id"] != DEPLOYMENTS[0]["flow_id"])
    wrong = [
        d
        for d in DEPLOYMENTS
        if d["name"] == DEPLOYMENTS[0]["name"] and FLOWS[d["flow_id"]]["name"] == other_flow
    ]
    assert (ops.read_deployment_by_name(fleet, DEPLOYMENTS[0]["name"], other_flow) is None) == (not wrong)


def test_count_by_deployment_filter(fleet):
    tag = DEPLOYMENTS[0]["tags"][0]
    expected = sum(tag in d["tags"] for d in DEPLOYMENTS)
    assert ops.count_deployments(fleet, deployment_filter={"tags": {"all_": [tag]}}) == expected
    active = sum(d["is_schedule_active"] for d in DEPLOYMENTS)
    assert ops.count_deployments(fleet, deployment_filter={"is_schedule_active": {"eq_": True}}) == active
    like = sum("deploy-1" in d["name"] for d in DEPLOYMENTS)
    assert ops.count_deployments(fleet, deployment_filter={"name": {"like_": "DEPLOY-1"}}) == like


def test_count_by_flow_filter(fleet):
    name = FLOWS[DEPLOYMENTS[0]["flow_id"]]["name"]
    expected = sum(FLOWS[d["flow_id"]]["name"] == name for d in DEPLOYMENTS)
    assert ops.count_deployments(fleet, flow_filter={"name": {"any_": [name]}}) == expected


def test_count_by_pool_and_queue_filters(fleet):
    for pool in POOLS.values():
        expected = sum(d["work_pool_name"] == pool["name"] for d in DEPLOYMENTS)
        got = ops.count_deployments(fleet, work_pool_filter={"name": {"any_": [pool["name"]]}})
        assert got == expected, pool["name"]
    expected = sum(d["work_queue_name"] == "default" for d in DEPLOYMENTS)
    assert ops.count_deployments(fleet, work_queue_filter={"name": {"any_": ["default"]}}) == expected


def test_count_by_flow_run_filter(fleet):
    for state in ("COMPLETED", "FAILED", "SCHEDULED"):
        expected = len({r["deployment_id"] for r in RUNS if r["state"]["type"] == state})
        got = ops.count_deployments(fleet, flow_run_filter={"state": {"type": {"any_": [state]}}})
        assert got == expected, state


def test_check_work_queues_for_deployment(fleet):
    for d in DEPLOYMENTS:
        expected = set()
        for q in QUEUES:
            f = q["filter"] or {}
            if f.get("tags") and not set(f["tags"]) <= set(d["tags"]):
                continue
            if f.get("deployment_ids") and d["id"] not in f["deployment_ids"]:
                continue
            expected.add(q["id"])
        got = ops.check_work_queues_for_deployment(fleet, d["id"])
        assert set(got["id"].cast(str).to_list()) == expected, d["name"]
