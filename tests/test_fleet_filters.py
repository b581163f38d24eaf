"""The six deployment filters have one home (``deploykit.models.FleetFilters``, issue 11): every
function taking them keeps API.md's signature, positional order and errors, and each takes all six."""

from __future__ import annotations

import inspect
import warnings
from datetime import UTC, datetime

import pytest

import deploykit as dk
from deploykit.models import FleetFilters, flow_runs, flows
from deploykit.models import deployments as D

SIX = [
    "flow_filter",
    "flow_run_filter",
    "task_run_filter",
    "deployment_filter",
    "work_pool_filter",
    "work_queue_filter",
]
START = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_six_filters_are_named_once_in_prefect_order():
    assert list(FleetFilters.__annotations__) == SIX


def test_read_and_count_keep_the_seed_signatures():
    read = inspect.signature(D.read_deployments).parameters
    assert list(read) == ["session", "offset", "limit", *SIX, "sort"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in read.values())
    assert read["sort"].default == dk.DeploymentSort.NAME_ASC
    count = inspect.signature(D.count_deployments).parameters
    assert list(count) == ["session", *SIX]
    assert all(count[name].default is None for name in SIX)


@pytest.fixture
def fleet(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    for name in ("a", "b"):
        D.create_deployment(
            store, dk.Deployment(name=name, flow_id=flow.id, schedule={"cron": "0 9 * * *"}, tags=[name])
        )
    failed = D.read_deployments(store, deployment_filter={"name": {"any_": ["b"]}})["id"][0]
    flow_runs.create_flow_run(store, {"flow_id": flow.id, "deployment_id": failed, "state_type": "FAILED"})
    return store


def test_filters_pass_by_position_in_prefect_order(fleet):
    tagged = {"tags": {"all_": ["a"]}}
    assert D.read_deployments(fleet, None, None, None, None, None, tagged)["name"].to_list() == ["a"]
    assert D.read_deployments(fleet, 0, 5, None, None, None, None, None, None, "NAME_DESC")[
        "name"
    ].to_list() == [
        "b",
        "a",
    ]
    assert D.count_deployments(fleet, None, {"state": {"type": {"any_": ["FAILED"]}}}) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda s: D.read_deployments(s, flow_filtr=None),
        lambda s: D.count_deployments(s, flow_filtr=None),
        lambda s: D.read_deployment_overview(s, flow_filtr=None),
        lambda s: D.preview_runs(s, START, START, flow_filtr=None),
    ],
)
def test_an_unknown_keyword_is_pythons_error(store, call):
    with pytest.raises(TypeError, match=r"^\w+\(\) got an unexpected keyword argument 'flow_filtr'$"):
        call(store)


def test_every_selecting_function_takes_all_six(fleet):
    failed = {"state": {"type": {"any_": ["FAILED"]}}}
    assert D.read_deployment_overview(fleet, flow_run_filter=failed)["name"].to_list() == ["b"]
    runs = D.preview_runs(fleet, START, datetime(2024, 1, 2, tzinfo=UTC), flow_run_filter=failed)
    assert runs["deployment_name"].to_list() == ["b"]
    for func in (D.read_deployment_overview, D.preview_runs):
        assert set(SIX) <= set(inspect.signature(func).parameters)


def test_preview_warnings_point_at_the_caller(fleet):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        D.preview_runs(fleet, START, datetime(2024, 1, 9, tzinfo=UTC), max_runs_per_deployment=2)
    assert {w.category.__name__ for w in caught} == {"DeprecationWarning", "PreviewTruncated"}
    assert {w.filename for w in caught} == {__file__}


def test_window_dates_is_public_in_scheduling():
    from deploykit.scheduling import window_dates

    dates, cut, failed = window_dates(['{"interval": 3600}'], START, datetime(2024, 1, 1, 5, tzinfo=UTC), 2)
    assert (dates.height, cut, failed) == (2, {0}, {})
