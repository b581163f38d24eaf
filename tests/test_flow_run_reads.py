"""``read_flow_runs`` takes Prefect's related-entity filters: flow, work queue and work pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import deploykit as dk
from deploykit.io import import_prefect_api
from deploykit.models.flow_runs import read_flow_runs

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-3.x"
RUNS = json.loads((FIXTURES / "api-flow_runs.json").read_text())
QUEUES = {q["id"]: q for q in json.loads((FIXTURES / "api-work_queues.json").read_text())}
FLOWS = {f["id"]: f["name"] for f in json.loads((FIXTURES / "api-flows.json").read_text())}


@pytest.fixture(scope="module")
def store():
    store = dk.Store()
    import_prefect_api(store, FIXTURES)
    return store


def _ids(frame) -> list[str]:
    return sorted(frame["id"].to_list())


def test_flow_filter_selects_runs_of_those_flows(store):
    name = FLOWS[RUNS[0]["flow_id"]]
    expected = sorted(r["id"] for r in RUNS if FLOWS[r["flow_id"]] == name)
    assert expected and _ids(read_flow_runs(store, flow_filter={"name": {"any_": [name]}})) == expected


def test_queue_and_pool_filters_follow_the_runs_own_queue(store):
    queue = next(QUEUES[r["work_queue_id"]] for r in RUNS if r["work_queue_id"])
    by_queue = sorted(r["id"] for r in RUNS if r["work_queue_id"] == queue["id"])
    assert _ids(read_flow_runs(store, work_queue_filter={"id": {"any_": [queue["id"]]}})) == by_queue
    pool = queue["work_pool_name"]
    by_pool = sorted(
        r["id"] for r in RUNS if r["work_queue_id"] and QUEUES[r["work_queue_id"]]["work_pool_name"] == pool
    )
    assert len(by_pool) > len(by_queue) or len(by_pool) == len(by_queue) > 0
    assert _ids(read_flow_runs(store, work_pool_filter={"name": {"any_": [pool]}})) == by_pool


def test_every_given_filter_must_hold_and_pages_come_after(store):
    name = FLOWS[RUNS[0]["flow_id"]]
    state = RUNS[0]["state"]["type"]
    expected = sorted(
        (r for r in RUNS if FLOWS[r["flow_id"]] == name and r["state"]["type"] == state),
        key=lambda r: (r["expected_start_time"], r["id"]),
    )
    frame = read_flow_runs(
        store, {"state": {"type": {"any_": [state]}}}, flow_filter={"name": {"any_": [name]}}, offset=1
    )
    assert frame["id"].to_list() == [r["id"] for r in expected[1:]]


def test_a_bad_related_filter_is_named(store):
    with pytest.raises(ValueError, match=r"(?s)WorkPoolFilter.*nmae"):
        read_flow_runs(store, work_pool_filter={"nmae": {"any_": ["x"]}})
