"""Resource bounds: operations that could explode refuse oversized requests with a clear
error naming the limit, and leave the store unchanged.

Limits: ``MAX_RUNS_LIMIT`` (max_runs / min_runs of schedule_runs and schedule_all),
``MAX_PREVIEW_WINDOW`` (preview_runs' window), ``MAX_DATES`` (dates per schedule and
``max_runs_per_deployment``), ``MAX_RRULE_LENGTH`` (rrule text), and the JSON nesting
depth (see ``test_reliability_hostile.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest
from tests_support import assert_unchanged_after, new_deployment

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.scheduling import MAX_RUNS_LIMIT
from deploykit.schemas.schedules import MAX_DATES, MAX_RRULE_LENGTH

START = datetime(2024, 1, 1, tzinfo=UTC)
EVERY_MINUTE = {"interval": 60, "anchor_date": "2024-01-01T00:00:00Z"}


@pytest.fixture
def scheduled(store, flow) -> dk.Deployment:
    return new_deployment(store, flow, "every-minute", schedule=EVERY_MINUTE)


@pytest.mark.parametrize("argument", ["max_runs", "min_runs"])
def test_schedule_runs_refuses_more_than_the_run_limit(store, scheduled, argument):
    call = lambda: D.schedule_runs(  # noqa: E731
        store, scheduled.id, start_time=START, **{argument: MAX_RUNS_LIMIT + 1}
    )
    assert_unchanged_after(store, call, ValueError, rf"{argument} must be .* {MAX_RUNS_LIMIT}")


def test_schedule_runs_accepts_the_limit_itself(store, scheduled):
    runs = D.schedule_runs(store, scheduled.id, start_time=START, max_runs=MAX_RUNS_LIMIT)
    assert 0 < len(runs) <= MAX_RUNS_LIMIT


def test_schedule_all_refuses_more_than_the_run_limit(store, scheduled):
    call = lambda: D.schedule_all(store, start_time=START, max_runs=MAX_RUNS_LIMIT + 1)  # noqa: E731
    assert_unchanged_after(store, call, ValueError, str(MAX_RUNS_LIMIT))


def test_preview_window_is_bounded(store, scheduled):
    too_long = D.MAX_PREVIEW_WINDOW + timedelta(seconds=1)
    with pytest.raises(ValueError, match="longer than the limit"):
        D.preview_runs(store, START, START + too_long)
    assert D.preview_runs(store, START, START + D.MAX_PREVIEW_WINDOW).height == 1000


def test_preview_runs_per_deployment_are_bounded(store, scheduled):
    with pytest.raises(ValueError, match=f"between 1 and {MAX_DATES}"):
        D.preview_runs(store, START, START + timedelta(days=1), max_runs_per_deployment=MAX_DATES + 1)


def test_schedule_dates_are_capped_at_max_dates():
    schedule = dk.IntervalSchedule(interval=timedelta(minutes=1), anchor_date=START)
    assert len(schedule.get_dates(n=MAX_DATES + 50, start=START)) == MAX_DATES


def test_rrule_text_is_bounded(store, flow):
    rule = "RRULE:FREQ=DAILY;BYHOUR=" + ",".join(["1"] * (MAX_RRULE_LENGTH // 2))
    with pytest.raises(pydantic.ValidationError, match=f"more than {MAX_RRULE_LENGTH}"):
        dk.Deployment(name="long", flow_id=flow.id, schedule={"rrule": rule})


def test_schedule_all_refuses_more_runs_than_one_call_may_insert(store, scheduled, monkeypatch):
    from deploykit.models import _fleet

    monkeypatch.setattr(_fleet, "MAX_RUNS_PER_CALL", 50)
    call = lambda: D.schedule_all(store, start_time=START, max_runs=60, min_runs=60)  # noqa: E731
    assert_unchanged_after(store, call, ValueError, "over the limit of 50 per call")
    assert D.schedule_all(store, start_time=START, max_runs=50, min_runs=50).height == 50


def test_api_body_files_over_the_size_limit_are_refused(store, tmp_path, monkeypatch):
    from deploykit.io import _prefect_api, import_prefect_api

    body = tmp_path / "api-flows.json"
    body.write_text('[{"id": "6b2c0f1e-53c5-4c49-9f0e-6f8c9c7d2a10", "name": "f", "tags": []}]')
    monkeypatch.setattr(_prefect_api, "MAX_BODY_BYTES", 10)
    assert_unchanged_after(store, lambda: import_prefect_api(store, body), dk.DeploykitError, "limit")
