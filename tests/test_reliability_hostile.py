"""Hostile input: SQL fragments, placeholders, NUL bytes, 1 MB strings, emoji, right-to-left
text and deep nesting go through create / read / read_deployments / filters / to_models
exactly as given and are never executed (every query binds its values).

The number of (value, place) pairs tried is printed (``pytest -s``).

Nesting limit: JSON fields (``parameters``, ``infra_overrides``, ...) of models given to
``create_deployment`` may nest at most ``MAX_JSON_DEPTH`` levels; pydantic-core's
serializer refuses deeper values with ``ValueError("... depth exceeded")`` and nothing
is written.
"""

from __future__ import annotations

import re
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
from tests_support import EXTREME_SCHEDULES, REFUSED_SCHEDULES, assert_unchanged_after

import deploykit as dk
from deploykit.calendar import MAX_YEAR
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, work_queues

MAX_JSON_DEPTH = 254
"""pydantic-core serializes values nested this deep, and refuses one level more."""

HOSTILE = [
    "'; DROP TABLE deployment; --",
    '"; DROP TABLE flow; --',
    "x' OR '1'='1",
    "1); DELETE FROM flow_run WHERE (1=1",
    "') UNION SELECT * FROM deploykit_meta --",
    "$name",
    "$1",
    "?",
    "%s",
    "{name}",
    ":id",
    "a\x00b",
    "\x00",
    "🚀🔥👩‍💻 ünïcødé",
    "مرحبا بالعالم",
    "שלום עולם",
    "\u202egnp.exe",
    "tab\tnew\nline\r\n",
    "back\\slash \\' \\\"",
    "<script>alert('x')</script>",
    "]]><!--",
    '{"$gt": ""}',
    "NULL",
    "null",
    " ",
    "x" * 1_000_000,
    "é" * 500_000,
]
_BANNED_IN_NAMES = re.compile(r"[/%&><]")


def _name_ok(value: str) -> bool:
    return bool(value) and not _BANNED_IN_NAMES.search(value)


def _fields(value: str) -> dict[str, Any]:
    """Every free-text field of a deployment, holding ``value``."""
    return {
        "description": value,
        "version": value,
        "tags": [value, "common"],
        "parameters": {value: value, "list": [value, None], "nested": {"k": value}},
        "infra_overrides": {"env": {value: value}},
        "path": value,
        "entrypoint": value,
    }


def test_hostile_values_are_stored_returned_and_matched_exactly(store):
    tried = 0
    for i, value in enumerate(HOSTILE):
        named = _name_ok(value)
        flow = flows.create_flow(store, dk.Flow(name=value if named else f"flow-{i}", tags=[value]))
        dep_name = value if named else f"dep-{i}"
        queue = value if named else None
        dep = D.create_deployment(
            store,
            dk.Deployment(name=dep_name, flow_id=flow.id, work_queue_name=queue, **_fields(value)),
        )
        tried += 7 + 3 * named  # the fields above, plus the three names

        expected = {"name": dep_name, "work_queue_name": queue, **_fields(value)}
        stored = D.read_deployment(store, dep.id)
        assert stored.model_dump(include=set(expected)) == expected
        assert D.read_deployment_by_name(store, dep_name, flow.name).id == dep.id
        frame = D.read_deployments(store, deployment_filter={"name": {"any_": [dep_name]}})
        assert frame["id"].to_list() == [str(dep.id)]
        assert dk.to_models(frame, dk.Deployment)[0].model_dump(include=set(expected)) == expected

        run = flow_runs.create_flow_run(
            store,
            dk.FlowRun(
                flow_id=flow.id, deployment_id=dep.id, name=value, tags=[value], parameters={value: value}
            ),
        )
        assert flow_runs.read_flow_run(store, run.id).model_dump(include={"name", "tags", "parameters"}) == {
            "name": value,
            "tags": [value],
            "parameters": {value: value},
        }
        tried += 3

        filters: list[dict[str, Any]] = [
            {"deployment_filter": {"tags": {"all_": [value]}}},
            {"flow_filter": {"name": {"any_": [flow.name]}}},
            {"flow_filter": {"tags": {"all_": [value]}}},
            {"flow_run_filter": {"name": {"any_": [value]}}},
            {"flow_run_filter": {"tags": {"all_": [value]}}},
        ]
        if named:
            filters += [
                {"deployment_filter": {"work_queue_name": {"any_": [value]}}},
                {"work_queue_filter": {"name": {"any_": [value]}}},
            ]
        if value.isascii() and value.strip() and not set(value) & set("%_\\\x00"):
            filters.append({"deployment_filter": {"name": {"like_": dep_name}}})
        for given in filters:
            got = D.read_deployments(store, **given)
            assert str(dep.id) in got["id"].to_list(), given
            assert got.height == D.count_deployments(store, **given), given
        exact = filters[:2] + filters[3:5] + (filters[5:7] if named else [])
        for given in exact:  # these select only this deployment
            assert D.count_deployments(store, **given) == 1, given
        tried += len(filters)

        assert store.sql("SELECT $v AS v", v=value)["v"].to_list() == [value]
        tried += 1

    # nothing was executed: every table is there and holds exactly what was written
    n = len(HOSTILE)
    counts = store.sql(
        "SELECT (SELECT count(*) FROM flow) AS f, (SELECT count(*) FROM deployment) AS d, "
        "(SELECT count(*) FROM flow_run) AS r, (SELECT count(*) FROM deploykit_meta) AS m"
    ).row(0)
    assert counts == (n, n, n, 1)
    assert store.check_integrity().is_empty()
    print(f"\nhostile inputs tried: {tried} ({n} values)")


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _name_ok(v)][:4])
def test_names_with_banned_characters_are_refused(store, flow, value):
    with pytest.raises(pydantic.ValidationError, match="name"):
        dk.Deployment(name=value, flow_id=flow.id)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: D.read_deployments(s, sort="NAME_ASC; DROP TABLE deployment"), "DeploymentSort"),
        (lambda s: D.read_deployments(s, limit="1; DROP TABLE deployment"), "limit must be"),
        (
            lambda s: D.read_deployments(s, deployment_filter={"id": {"any_": ["'; DROP TABLE flow"]}}),
            "valid UUID",
        ),
        (
            lambda s: D.count_deployments(s, flow_run_filter={"state": {"type": {"any_": ["'; --"]}}}),
            "SCHEDULED",
        ),
        (lambda s: s.table("deployment; DROP TABLE deployment"), "unknown table"),
    ],
    ids=["sort", "limit", "id_filter", "state_filter", "table"],
)
def test_hostile_arguments_of_the_wrong_kind_are_refused(store, flow, call, message):
    D.create_deployment(store, dk.Deployment(name="keep", flow_id=flow.id))
    assert_unchanged_after(store, lambda: call(store), ValueError, message)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_deep_nesting_up_to_the_limit_round_trips(store, flow):
    params = {"p": _nested(MAX_JSON_DEPTH - 1)}  # the outer dict is one more level
    dep = D.create_deployment(store, dk.Deployment(name="deep", flow_id=flow.id, parameters=params))
    assert D.read_deployment(store, dep.id).parameters == params
    frame = D.read_deployments(store)
    assert dk.to_models(frame, dk.Deployment)[0].parameters == params


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 500])
def test_deeper_nesting_is_refused_and_nothing_is_written(store, flow, depth):
    deployment = dk.Deployment(name="deep", flow_id=flow.id, parameters={"p": _nested(depth)})
    assert_unchanged_after(
        store, lambda: D.create_deployment(store, deployment), ValueError, "parameters .*depth exceeded"
    )


def test_hostile_queue_filters_match_by_value_only(store, flow):
    value = "'; DROP TABLE work_queue; --"
    queue = work_queues.create_work_queue(store, dk.WorkQueue(name="q", filter={"tags": [value]}))
    with_tag = D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, tags=[value]))
    without = D.create_deployment(store, dk.Deployment(name="b", flow_id=flow.id, tags=["x"]))
    assert "q" in D.check_work_queues_for_deployment(store, with_tag.id)["name"].to_list()
    assert "q" not in D.check_work_queues_for_deployment(store, without.id)["name"].to_list()
    assert work_queues.read_work_queue(store, queue.id).filter.tags == [value]


# --- hostile and extreme schedules (issue 15 items 1-2) ----------------------------------

SCHEDULE_SECONDS = 10
"""Every computation on one accepted extreme schedule finishes well within this."""


@pytest.mark.parametrize("schedule", list(REFUSED_SCHEDULES.values()), ids=list(REFUSED_SCHEDULES))
def test_hostile_schedules_are_refused_at_validation(store, flow, schedule):
    began = time.monotonic()
    assert_unchanged_after(
        store,
        lambda: D.create_deployment(store, {"name": "hostile", "flow_id": flow.id, "schedule": schedule}),
        pydantic.ValidationError,
        "schedule",
    )
    assert time.monotonic() - began < SCHEDULE_SECONDS


@pytest.mark.parametrize("schedule", list(EXTREME_SCHEDULES.values()), ids=list(EXTREME_SCHEDULES))
@pytest.mark.parametrize("start", [datetime(2024, 2, 28, tzinfo=UTC), datetime(2200, 12, 30, tzinfo=UTC)])
def test_extreme_schedules_are_bounded_and_agree_everywhere(store, flow, schedule, start):
    dep = D.create_deployment(store, dk.Deployment(name="extreme", flow_id=flow.id, schedule=schedule))
    end = min(start + timedelta(days=2), datetime(MAX_YEAR, 12, 31, 23, 59, tzinfo=UTC))
    began = time.monotonic()
    expected = dk.schemas.schedules.parse_schedule(schedule).get_dates(n=50, start=start, end=end)
    with warnings.catch_warnings():
        # no deployment may be skipped: the schedule is valid (a cut at max_runs is announced)
        warnings.simplefilter("error", dk.ScheduleSkippedWarning)
        preview = D.preview_runs(store, start, end, max_runs=50)
        inserted = D.schedule_runs(
            store, dep.id, start_time=start, end_time=end, min_time=timedelta(0), min_runs=50, max_runs=50
        )
        again = D.schedule_all(
            store, start_time=start, end_time=end, min_time=timedelta(0), min_runs=50, max_runs=50
        )
    assert time.monotonic() - began < SCHEDULE_SECONDS
    assert preview["scheduled_time"].to_list() == expected
    assert len(inserted) == len(expected)
    assert again.is_empty()  # schedule_runs made them all already
    assert store.check_integrity().is_empty()
