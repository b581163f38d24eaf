"""The six deployment filters, declared once for every run-history function, and the
window walker ``missed_runs`` shares with the fleet (``deploykit.scheduling.window_dates``)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import get_type_hints

import pytest

import deploykit as dk
from deploykit import history
from deploykit.models import FleetFilters, deployments, flows

FILTERS = list(FleetFilters.__annotations__)  # their names and order: tests/test_fleet_filters.py
PUBLIC = [getattr(history, name) for name in history.__all__ if inspect.isfunction(getattr(history, name))]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_signature_lists_the_six_filters_keyword_only(func):
    params = inspect.signature(func).parameters
    assert list(params)[-6:] == FILTERS and "filters" not in params
    for name in FILTERS:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None
        assert params[name].annotation == get_type_hints(FleetFilters)[name]  # the models' one home
    assert func.__doc__ and "filter" in func.__doc__  # each documents them (or refers to run_metrics)


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_unknown_keyword_is_a_type_error_naming_it(store, func):
    args = (T0, T0 + timedelta(days=1)) if func is history.missed_runs else ()
    with pytest.raises(TypeError, match="deployment_filtre"):
        func(store, *args, deployment_filtre={"name": {"any_": ["x"]}})


def _fleet(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    hourly = dk.IntervalSchedule(interval=timedelta(hours=1), anchor_date=T0)
    for name, tags in (("a", ["prod"]), ("b", [])):
        deployments.create_deployment(
            store, dk.Deployment(name=name, flow_id=flow.id, schedule=hourly, tags=tags)
        )


def test_filters_reach_the_selection(store):
    _fleet(store)
    prod = {"tags": {"all_": ["prod"]}}
    got = history.missed_runs(store, T0, T0 + timedelta(hours=3), deployment_filter=prod)
    assert set(got["deployment_name"]) == {"a"}
    assert history.deployment_health(store, deployment_filter=prod)["deployment_name"].to_list() == ["a"]


def test_missed_runs_window_is_half_open(store):
    _fleet(store)
    got = history.missed_runs(store, T0, T0 + timedelta(hours=3))
    assert sorted(set(got["scheduled_time"])) == [T0 + timedelta(hours=h) for h in range(3)]
    assert got.height == 6
