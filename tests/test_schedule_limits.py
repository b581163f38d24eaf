"""Issue 15, items 1 and 2: every schedule computation is bounded in work and time.

Hostile rules are refused at validation with a message naming the rule and why; extreme
values are refused at the boundary with an error naming the value (never an
OverflowError, a pyo3 PanicException or a silent ``[]``); the schedules that pass are
expanded in bounded time, and a fleet expansion reports the schedules it skipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from pydantic import ValidationError

import deploykit as dk
import deploykit.calendar._rrule as rrule_module
from deploykit.calendar import MAX_YEAR, MIN_YEAR, BudgetExceeded
from deploykit.models import deployments as D
from deploykit.scheduling import expand_checked, expand_distinct, expand_schedules
from deploykit.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

pytestmark = pytest.mark.timeout(20)

EVERY_SECOND = (
    "BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60)))
    + ";BYSECOND=" + ",".join(map(str, range(60)))
)  # fmt: skip


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("RRULE:FREQ=MINUTELY\nEXRULE:FREQ=MINUTELY", "to reach its first date, it needs more than 20,000"),
        ("RRULE:FREQ=DAILY\nEXRULE:FREQ=DAILY", "to reach its first date, it needs more than 20,000"),
        ("FREQ=SECONDLY;COUNT=1000000000", "COUNT=1000000000 is more than 100,000"),
        ("FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30", "never fires before 2201"),
        ("FREQ=MINUTELY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=31", "never fires before 2201"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "never fires before 2201"),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", "never fires before 2201"),
        (f"FREQ=MONTHLY;{EVERY_SECOND}", "FREQ=MONTHLY with 86400 times a day lists up to 2,678,400"),
        (f"FREQ=YEARLY;{EVERY_SECOND}", "FREQ=YEARLY with 86400 times a day lists up to 31,622,400"),
        (f"FREQ=WEEKLY;{EVERY_SECOND}", "FREQ=WEEKLY with 86400 times a day"),
        ("FREQ=DAILY;INTERVAL=1000000000", "FREQ=DAILY;INTERVAL=1000000000 spans more than 36600 days"),
        ("FREQ=SECONDLY;INTERVAL=1000000000000", "spans more than 36600 days"),
        (
            "DTSTART:00010101T000000\nRRULE:FREQ=DAILY",
            "DTSTART 0001-01-01T00:00:00 is outside the supported years",
        ),
        (
            "DTSTART:99990101T000000\nRRULE:FREQ=DAILY",
            "DTSTART 9999-01-01T00:00:00 is outside the supported years",
        ),
        ("FREQ=MINUTELY;BYWEEKNO=20", "BYWEEKNO and BYEASTER need FREQ=DAILY or coarser"),
    ],
)
def test_hostile_rules_are_refused_at_validation(rule: str, reason: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RRuleSchedule(rrule=rule)
    message = exc.value.errors()[0]["msg"]
    assert f"invalid rrule {rule!r}" in message
    assert reason in message


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"interval": timedelta(days=999_999_999)}, "interval", "longer than the limit of 36600 days"),
        (
            {"interval": 60, "anchor_date": datetime(1, 1, 1, tzinfo=ZoneInfo("America/Los_Angeles"))},
            "anchor_date",
            "anchor_date 0001-01-01T00:00:00-07:52:58 is outside the supported years 1900..2200",
        ),
        (
            {"interval": 60, "anchor_date": "0001-01-01T00:00:00-08:00"},
            "anchor_date",
            "outside the supported years",
        ),
        (
            {"interval": 60, "anchor_date": "9999-12-31T23:00:00+00:00"},
            "anchor_date",
            "outside the supported",
        ),
    ],
)
def test_extreme_intervals_are_refused_at_validation(kwargs, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as exc:
        IntervalSchedule(**kwargs)
    (error,) = exc.value.errors()
    assert error["loc"] == (field,)
    assert reason in error["msg"]


SCHEDULES = [
    CronSchedule(cron="0 9 * * *", timezone="America/Los_Angeles"),
    IntervalSchedule(interval=timedelta(days=36_600), anchor_date=datetime(1900, 1, 1)),
    RRuleSchedule(rrule="FREQ=DAILY;INTERVAL=36600", timezone="Pacific/Kiritimati"),
]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(
    ("bounds", "name"),
    [
        ({"start": datetime(9999, 1, 1, tzinfo=UTC)}, "start 9999-01-01"),
        ({"start": datetime(1, 1, 1)}, "start 0001-01-01"),
        ({"start": utc(2023, 1, 1), "end": datetime(9999, 12, 31, tzinfo=UTC)}, "end 9999-12-31"),
        ({"start": datetime(1, 1, 2, tzinfo=ZoneInfo("Asia/Tokyo"))}, "start 0001-01-02"),
    ],
)
def test_dates_outside_the_years_are_refused(schedule, bounds, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}.* is outside the supported years {MIN_YEAR}..{MAX_YEAR}"):
        schedule.get_dates(3, **bounds)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_dates_stop_at_the_horizon(schedule) -> None:
    dates = schedule.get_dates(5, start=datetime(2200, 1, 1, tzinfo=UTC))
    assert all(d.astimezone(UTC).year <= MAX_YEAR for d in dates)
    assert schedule.get_dates(
        start=datetime(2200, 12, 31, 23, 59, tzinfo=UTC), end=utc(2200, 12, 31, 23, 59)
    ) in (
        [],
        [utc(2200, 12, 31, 23, 59)],
    )


@pytest.mark.parametrize(
    ("start", "end", "name"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), utc(2023, 1, 1), "start"),
        (utc(2023, 1, 1), datetime(9999, 12, 31, tzinfo=UTC), "end"),
        (datetime(9999, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC), "start"),
    ],
)
def test_expansion_windows_outside_the_years_are_refused(start, end, name: str) -> None:
    frame = pl.DataFrame({"id": ["a"], "schedule": [json.dumps({"interval": 3600})]})
    with pytest.raises(ValueError, match=f"^{name} .* is outside the supported years"):
        expand_schedules(frame, start, end)


def test_schedule_runs_in_year_9999_is_refused(store, flow) -> None:
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"interval": 3600}))
    with pytest.raises(
        ValueError, match=r"start_time 9999-01-01T00:00:00\+00:00 is outside the supported years"
    ):
        D.schedule_runs(store, dep.id, start_time=datetime(9999, 1, 1, tzinfo=UTC))
    # the default end stops at the horizon instead of overflowing
    runs = D.schedule_runs(store, dep.id, start_time=utc(2200, 12, 31, 22), max_runs=10)
    assert len(runs) == 2


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SECONDLY;INTERVAL=600;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",  # one day in 28 years
        "FREQ=MINUTELY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=HOURLY;INTERVAL=1000;BYDAY=SU",
        "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60))),
        "DTSTART:19000101T000000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=0,12",
    ],
)
def test_sparse_and_dense_valid_rules_expand_in_bounded_time(rule: str) -> None:
    schedule = RRuleSchedule(rrule=rule)
    scalar = schedule.get_dates(2, start=utc(2030, 1, 1))
    assert len(scalar) == 2
    frame = pl.DataFrame({"id": ["a"], "schedule": [schedule.model_dump_json()]})
    bulk = expand_schedules(frame, utc(2030, 1, 1), utc(2200, 12, 31), max_per_schedule=2)
    assert bulk.get_column("scheduled_time").to_list() == [d.astimezone(UTC) for d in scalar]


# A rule that fires in January only: its first date is found at once (it passes
# validation), but from July on its next date lies behind ~250,000 excluded minutes.
JANUARY_ONLY = "RRULE:FREQ=MINUTELY\nEXRULE:FREQ=MINUTELY;BYMONTH=2,3,4,5,6,7,8,9,10,11,12"


@pytest.fixture
def small_budget(monkeypatch) -> None:
    monkeypatch.setattr(rrule_module, "MAX_CANDIDATES", 20_000)


def test_a_walk_over_its_budget_raises_naming_the_rule(small_budget) -> None:
    schedule = RRuleSchedule(rrule=JANUARY_ONLY)
    assert schedule.get_dates(1, start=utc(2023, 1, 5)) == [utc(2023, 1, 5)]
    with pytest.raises(
        BudgetExceeded, match=r"^rrule 'RRULE:FREQ=MINUTELY\\nEXRULE.* needs more than 20,000"
    ):
        schedule.get_dates(1, start=utc(2023, 7, 1))


def test_expand_checked_skips_and_names_what_it_cannot_expand(small_budget) -> None:
    texts = [
        json.dumps({"cron": "0 9 * * *"}),
        json.dumps({"rrule": JANUARY_ONLY}),
        json.dumps({"rrule": "FREQ=SECONDLY;COUNT=1000000000"}),  # stored before the limits
        "not json",
        json.dumps({"interval": 86400 * 999_999_999}),
    ]
    out = expand_checked(texts, utc(2023, 7, 1), utc(2023, 12, 31), 2)
    assert out.dates.get_column("_key").to_list() == [0, 0]
    assert sorted(out.failed) == [1, 2, 3, 4]
    assert isinstance(out.failed[1], BudgetExceeded)
    assert "COUNT=1000000000 is more than 100,000" in str(out.failed[2])
    assert all(isinstance(error, ValueError) for error in out.failed.values())
    with pytest.raises(BudgetExceeded):
        expand_distinct(texts[:2], utc(2023, 7, 1), utc(2023, 12, 31), 2)


@pytest.mark.parametrize("kind", ["cron", "interval", "rrule"])
def test_year_range_edges_expand_like_the_scalar_path(kind: str) -> None:
    schedule = {
        "cron": CronSchedule(cron="30 2 * * *", timezone="America/New_York"),
        "interval": IntervalSchedule(interval=timedelta(hours=7), anchor_date=datetime(1900, 1, 1, 0, 0, 1)),
        "rrule": RRuleSchedule(
            rrule="DTSTART:19000101T000000\nRRULE:FREQ=HOURLY;INTERVAL=5", timezone="Asia/Tokyo"
        ),
    }[kind]
    frame = pl.DataFrame({"id": ["a"], "schedule": [schedule.model_dump_json()]})
    for start, end in [(utc(1900, 1, 1), utc(1900, 1, 5)), (utc(2200, 12, 28), utc(2200, 12, 31, 23, 59))]:
        bulk = expand_schedules(frame, start, end, max_per_schedule=50)
        scalar = schedule.get_dates(50, start=start, end=end)
        assert bulk.get_column("scheduled_time").to_list() == [d.astimezone(UTC) for d in scalar]
