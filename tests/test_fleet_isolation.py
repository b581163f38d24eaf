"""Fleet isolation (issue 15 items 1-2): a deployment whose stored schedule cannot be
expanded is skipped by ``preview_runs`` and ``schedule_all`` and named in a
``deploykit.ScheduleSkippedWarning``; every other deployment is previewed / scheduled.

The broken schedule is written straight into the raw ``deployment.schedule`` column
(as an older deploykit, an import or a hand edit could leave it): validation at
creation refuses it, so only the fleet operations can meet it.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest

import deploykit as dk
from deploykit.models import deployments as D

START = datetime(2024, 1, 1, tzinfo=UTC)
HOURLY = {"interval": 3600, "anchor_date": "2024-01-01T00:00:00+00:00"}

BROKEN = {
    "exrule_excludes_all": {"rrule": "RRULE:FREQ=MINUTELY\nEXRULE:FREQ=MINUTELY"},
    "never_fires": {"rrule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"},
    "huge_count": {"rrule": "FREQ=SECONDLY;COUNT=1000000000"},
    "huge_interval": {"interval": 999_999_999 * 86400, "anchor_date": "2024-01-01T00:00:00+00:00"},
    "year_one_anchor": {"interval": 3600, "anchor_date": "0001-01-01T00:00:00-05:00"},
    "bad_cron": {"cron": "61 * * * *"},
    "unknown_zone": {"cron": "0 * * * *", "timezone": "Mars/Olympus"},
}


def _fleet(store: dk.Store, broken: object) -> tuple[list[str], str]:
    """Three good hourly deployments and one whose stored schedule is ``broken``."""
    flow = dk.models.flows.create_flow(store, dk.Flow(name="f"))
    good = [
        D.create_deployment(store, dk.Deployment(name=f"good-{i}", flow_id=flow.id, schedule=HOURLY)).id
        for i in range(3)
    ]
    bad = D.create_deployment(store, dk.Deployment(name="the-broken-one", flow_id=flow.id, schedule=HOURLY))
    text = broken if isinstance(broken, str) else json.dumps(broken)
    store.sql(
        "UPDATE deployment_schedule SET schedule = $s WHERE deployment_id = $id", s=text, id=str(bad.id)
    )
    return [str(i) for i in good], str(bad.id)


def _skipped(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, dk.ScheduleSkippedWarning)]


@pytest.mark.parametrize("broken", list(BROKEN.values()), ids=list(BROKEN))
def test_preview_runs_skips_and_names_an_unexpandable_schedule(store, broken):
    good, bad = _fleet(store, broken)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        runs = D.preview_runs(store, START, START + timedelta(hours=2))
    assert sorted(set(runs["deployment_id"])) == sorted(good)
    assert runs.height == 3 * 3
    messages = _skipped(record)
    assert len(messages) == 1
    assert "the-broken-one" in messages[0] and bad in messages[0]


@pytest.mark.parametrize("broken", list(BROKEN.values()), ids=list(BROKEN))
def test_schedule_all_skips_and_names_an_unexpandable_schedule(store, broken):
    good, bad = _fleet(store, broken)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        inserted = D.schedule_all(store, start_time=START, max_runs=5, min_runs=5)
    assert sorted(set(inserted["deployment_id"])) == sorted(good)
    assert inserted.height == 3 * 5
    messages = _skipped(record)
    assert len(messages) == 1
    assert "the-broken-one" in messages[0] and bad in messages[0]
    assert store.sql("SELECT count(*) AS n FROM flow_run WHERE deployment_id = $id", id=bad)["n"][0] == 0


def test_the_warning_class_is_public_and_a_deploykit_warning():
    assert dk.ScheduleSkippedWarning.__module__ == "deploykit"
    assert issubclass(dk.ScheduleSkippedWarning, UserWarning)


def test_a_fleet_without_broken_schedules_warns_nothing(store):
    flow = dk.models.flows.create_flow(store, dk.Flow(name="f"))
    D.create_deployment(store, dk.Deployment(name="ok", flow_id=flow.id, schedule=HOURLY))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert D.preview_runs(store, START, START + timedelta(hours=1)).height == 2
        assert D.schedule_all(store, start_time=START, max_runs=2, min_runs=2).height == 2
