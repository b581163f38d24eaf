"""deploykit.calendar: the one home of time logic (issue 11)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from pydantic import ValidationError

import deploykit.calendar
from deploykit.calendar import as_utc, known_zone, require_aware, zone
from deploykit.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule, cached_schedule


def test_calendar_imports_neither_pydantic_nor_other_deploykit_packages() -> None:
    """Layer 1: the calendar's modules import only the standard library, dateutil, croniter,
    cron-descriptor, Polars and each other."""
    imported = set()
    for path in (Path(deploykit.calendar.__file__).parent).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] == "pydantic"}
    assert {name for name in imported if name.startswith("deploykit")} <= {
        f"deploykit.calendar.{path.stem}" for path in Path(deploykit.calendar.__file__).parent.glob("*.py")
    }


@pytest.mark.parametrize(
    "schedule",
    [
        CronSchedule(cron="0 9 * * *"),
        IntervalSchedule(interval=timedelta(hours=1), anchor_date=datetime(2023, 1, 1)),
        RRuleSchedule(rrule="FREQ=DAILY"),
    ],
)
def test_schedules_are_frozen(schedule) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        schedule.timezone = "Europe/Berlin"


def test_cached_schedule_cannot_be_changed_by_one_caller() -> None:
    shared = cached_schedule('{"cron": "0 9 * * *", "timezone": "Europe/Berlin"}')
    with pytest.raises(ValidationError):
        shared.cron = "0 10 * * *"
    assert cached_schedule('{"cron": "0 9 * * *", "timezone": "Europe/Berlin"}').cron == "0 9 * * *"


def test_interval_resolves_its_zone_although_frozen() -> None:
    naive = IntervalSchedule(interval=60, anchor_date=datetime(2023, 6, 1, 9), timezone="Asia/Tokyo")
    assert naive.anchor_date.tzinfo is zone("Asia/Tokyo")
    assert naive.model_dump(exclude_unset=True)["timezone"] == "Asia/Tokyo"
    aware = IntervalSchedule(interval=60, anchor_date=datetime(2023, 6, 1, 9, tzinfo=zone("Europe/Paris")))
    assert aware.timezone == "Europe/Paris"


class NoOffset(tzinfo):  # a tzinfo that gives no offset: naive by Python's rule
    def utcoffset(self, dt):
        return None


@pytest.mark.parametrize("value", [datetime(2023, 1, 1), datetime(2023, 1, 1, tzinfo=NoOffset())])
def test_one_awareness_rule_names_the_argument(value) -> None:
    with pytest.raises(ValueError, match=r"^end_time must be timezone-aware, got naive 2023-01-01"):
        require_aware(value, "end_time")
    assert as_utc(value, zone("Asia/Tokyo")) == datetime(2022, 12, 31, 15, tzinfo=UTC)


def test_require_aware_rejects_non_datetimes() -> None:
    with pytest.raises(TypeError, match="start must be a datetime, got str"):
        require_aware("2023-01-01", "start")  # type: ignore[arg-type]


def test_one_zone_validation_for_every_schedule() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Base'"):
        known_zone("Mars/Base")
    for kind in (
        lambda: CronSchedule(cron="@daily", timezone="Mars/Base"),
        lambda: RRuleSchedule(rrule="FREQ=DAILY", timezone="Mars/Base"),
        lambda: IntervalSchedule(interval=60, timezone="Mars/Base"),
    ):
        with pytest.raises(ValidationError, match="unknown timezone 'Mars/Base'"):
            kind()
