"""Vectorised schedule expansion == the scalar schedules, and the load-analysis helpers."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deploykit.calendar import parse_cron
from deploykit.scheduling import OUTPUT_SCHEMA, busiest_windows, expand_schedules, runs_per_period
from deploykit.schemas.schedules import parse_schedule

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
]
TRANSITIONS = [  # DST changes of those zones, in UTC
    datetime(2023, 3, 12, 7, tzinfo=UTC),  # New York springs forward
    datetime(2023, 11, 5, 6, tzinfo=UTC),  # New York falls back
    datetime(2023, 3, 26, 1, tzinfo=UTC),  # Berlin springs forward
    datetime(2023, 10, 29, 1, tzinfo=UTC),  # Berlin falls back
    datetime(2023, 4, 1, 16, tzinfo=UTC),  # Sydney falls back
    datetime(2023, 9, 30, 16, tzinfo=UTC),  # Sydney springs forward
    datetime(2024, 3, 10, 7, tzinfo=UTC),  # New York springs forward
    datetime(2023, 4, 1, 15, tzinfo=UTC),  # Lord Howe falls back half an hour
    datetime(2023, 9, 30, 15, 30, tzinfo=UTC),  # Lord Howe springs forward half an hour
    datetime(2019, 11, 3, 6, tzinfo=UTC),  # New York falls back, before rrules' default DTSTART
    datetime(2020, 1, 2, tzinfo=UTC),  # around rrules' default DTSTART (2020-01-01 00:00)
]
RRULES = [
    "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
    "FREQ=HOURLY",
    "FREQ=MINUTELY;INTERVAL=17",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1,2,3",
    "DTSTART:20230301T013000\nRRULE:FREQ=DAILY;COUNT=400",
    "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23;BYMINUTE=59",
    # rules that fire like a cron (expanded on the cron path when the window allows)
    "FREQ=WEEKLY",
    "FREQ=MONTHLY;BYDAY=MO,FR;BYHOUR=1,2;BYMINUTE=30",
    "FREQ=DAILY;BYMONTH=3,4,10,11;BYHOUR=1,2",
    "FREQ=HOURLY;BYDAY=SU",
    "FREQ=MINUTELY;BYHOUR=1,2;BYMINUTE=0,15,30,45",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,31;BYHOUR=0",
    "DTSTART:20230310T023000\nRRULE:FREQ=DAILY",
    # extreme but valid (issue 15): sparse days, the longest intervals, the year range's ends
    "FREQ=SECONDLY;INTERVAL=900;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "FREQ=MINUTELY;INTERVAL=7;BYMONTH=3,11;BYMONTHDAY=-1,1",
    "FREQ=DAILY;INTERVAL=36600",
    "FREQ=HOURLY;INTERVAL=878400",
    "DTSTART:19000101T000000\nRRULE:FREQ=HOURLY;INTERVAL=5",
    "DTSTART:22001231T000000\nRRULE:FREQ=MINUTELY;INTERVAL=30",
    "RRULE:FREQ=HOURLY\nEXRULE:FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR",
]
DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def scalar_rows(frame: pl.DataFrame, start: datetime, end: datetime, n: int) -> list[tuple]:
    """What the scalar schedules give, in the shape of expand_schedules' rows."""
    rows = []
    for id_, text in frame.select("id", "schedule").rows():
        if text is None:
            continue
        schedule = parse_schedule(text)
        for run in schedule.occurrences(n, start, end):
            local = run.when.replace(tzinfo=None)
            rows.append((id_, run.when.astimezone(UTC), local, schedule.zone_name, run.dst_adjusted))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def expanded_rows(frame: pl.DataFrame, start: datetime, end: datetime, n: int) -> list[tuple]:
    out = expand_schedules(frame, start, end, max_per_schedule=n)
    assert out.schema == OUTPUT_SCHEMA
    return out.rows()


# --------------------------------------------------------------------------- strategies


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """'*', values, ranges (also wrapping), steps, lists; names for month and weekday."""

    def value(v: int) -> str:
        if v == 0 and names is DOW_NAMES and draw(st.booleans()):
            return "7"  # Sunday
        return names[v - low] if names and draw(st.booleans()) else str(v)

    def item() -> str:
        a, b = draw(st.integers(low, high)), draw(st.integers(low, high))
        step = draw(st.integers(1, high - low + 1))
        return draw(
            st.sampled_from(
                [
                    value(a),
                    f"*/{step}",
                    f"{a}/{step}",
                    f"{value(min(a, b))}-{value(max(a, b))}",
                    f"{min(a, b)}-{max(a, b)}/{step}",
                    f"{value(max(a, b))}-{value(min(a, b))}" if a != b else value(a),
                ]
            )
        )

    if draw(st.integers(0, 2)) == 0:
        return "*"
    return ",".join(item() for _ in range(draw(st.integers(1, 3))))


@st.composite
def cron_schedules(draw: st.DrawFn, zone: str) -> dict:
    while True:
        expression = " ".join(
            [
                draw(cron_field(0, 59)),
                draw(cron_field(0, 23)),
                draw(cron_field(1, 31)),
                draw(cron_field(1, 12, MONTH_NAMES)),
                draw(cron_field(0, 6, DOW_NAMES)),
            ]
        )
        day_or = draw(st.booleans())
        if parse_cron(expression).can_fire(day_or):
            return {"cron": expression, "timezone": zone, "day_or": day_or}


@st.composite
def interval_schedules(draw: st.DrawFn, zone: str) -> dict:
    if draw(st.booleans()):
        interval = draw(st.timedeltas(timedelta(seconds=1), timedelta(hours=23)))
    else:
        days = timedelta(days=draw(st.integers(1, 9)))
        rest = draw(
            st.one_of(
                st.sampled_from([timedelta(0), timedelta(hours=12)]),
                st.timedeltas(timedelta(seconds=1), timedelta(hours=23)),
            )
        )
        interval = days + rest + draw(st.sampled_from([timedelta(0), timedelta(microseconds=7)]))
    if draw(st.integers(0, 9)) == 0:  # extreme but valid: up to the longest interval
        interval = timedelta(days=draw(st.integers(1, 36_599)), seconds=draw(st.integers(0, 86_399)))
    # Anchors years before and after the windows: with a sub-day rest, the whole-day
    # steps of such an interval fall in other years than the window; sometimes at the
    # ends of the supported years.
    wall = draw(
        st.one_of(
            st.datetimes(datetime(2012, 1, 1), datetime(2034, 12, 31)),
            st.datetimes(datetime(1900, 1, 2), datetime(1900, 2, 1)),
            st.datetimes(datetime(2200, 11, 1), datetime(2200, 12, 30)),
        )
    )
    anchor = wall.replace(tzinfo=ZoneInfo(draw(st.sampled_from(ZONES))), fold=draw(st.integers(0, 1)))
    if anchor.utcoffset() % timedelta(minutes=1):  # local mean time (1900): JSON offsets are whole minutes
        anchor = anchor.astimezone(UTC)
    return {
        "interval": interval.total_seconds(),
        "anchor_date": anchor.isoformat(),
        "timezone": zone,
    }


@st.composite
def schedules(draw: st.DrawFn) -> dict | None:
    zone = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(["cron", "cron", "interval", "interval", "rrule", "none"]))
    if kind == "cron":
        return draw(cron_schedules(zone))
    if kind == "interval":
        return draw(interval_schedules(zone))
    if kind == "rrule":
        return {"rrule": draw(st.sampled_from(RRULES)), "timezone": zone}
    return None


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """Windows around DST changes, or at the ends of the supported years, with arbitrary
    (sub-second) bounds."""
    pivot = draw(st.sampled_from([*TRANSITIONS, utc(1900, 1, 6), utc(2200, 12, 22)]))
    start = pivot + draw(st.timedeltas(timedelta(days=-5), timedelta(days=1)))
    return start, start + draw(st.timedeltas(timedelta(0), timedelta(days=8)))


# --------------------------------------------------------------------------- property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(schedules(), min_size=1, max_size=6),
    window=windows(),
    n=st.sampled_from([1, 3, 50, 1000]),
)
def test_vectorised_equals_scalar(batch: list[dict | None], window: tuple, n: int) -> None:
    frame = pl.DataFrame(
        {
            "id": [f"dep-{i}" for i in range(len(batch))][::-1],
            "schedule": [None if s is None else json.dumps(s) for s in batch],
        },
        schema={"id": pl.String, "schedule": pl.String},
    )
    start, end = window
    assert expanded_rows(frame, start, end, n) == scalar_rows(frame, start, end, n)


# --------------------------------------------------------------------------- examples


def test_dst_rows() -> None:
    frame = pl.DataFrame(
        {
            "id": ["cron", "hourly", "daily"],
            "schedule": [
                json.dumps({"cron": "30 2 * * *", "timezone": "America/New_York"}),
                json.dumps(
                    {
                        "interval": 3600,
                        "anchor_date": "2023-11-05T00:00:00-04:00",
                        "timezone": "America/New_York",
                    }
                ),
                json.dumps(
                    {
                        "interval": 86400,
                        "anchor_date": "2023-01-01T09:00:00-05:00",
                        "timezone": "America/New_York",
                    }
                ),
            ],
        }
    )
    others = frame.filter(pl.col("id") != "hourly")
    march = expand_schedules(others, utc(2023, 3, 11, 12), utc(2023, 3, 13, 13))  # end inclusive
    assert march.select("id", "scheduled_time", "local_time", "dst_adjusted").rows() == [
        ("cron", utc(2023, 3, 12, 7), datetime(2023, 3, 12, 3, 0), True),
        ("cron", utc(2023, 3, 13, 6, 30), datetime(2023, 3, 13, 2, 30), False),
        ("daily", utc(2023, 3, 11, 14), datetime(2023, 3, 11, 9), False),
        ("daily", utc(2023, 3, 12, 13), datetime(2023, 3, 12, 9), False),
        ("daily", utc(2023, 3, 13, 13), datetime(2023, 3, 13, 9), False),
    ]
    november = expand_schedules(
        frame.filter(pl.col("id") == "hourly"), utc(2023, 11, 5, 4), utc(2023, 11, 5, 7)
    )
    assert november.select("scheduled_time", "local_time", "timezone", "dst_adjusted").rows() == [
        (utc(2023, 11, 5, 4), datetime(2023, 11, 5, 0), "America/New_York", False),
        (utc(2023, 11, 5, 5), datetime(2023, 11, 5, 1), "America/New_York", True),
        (utc(2023, 11, 5, 6), datetime(2023, 11, 5, 1), "America/New_York", True),
        (utc(2023, 11, 5, 7), datetime(2023, 11, 5, 2), "America/New_York", False),
    ]


def test_day_and_a_half_interval_anchored_long_before() -> None:
    # 36 h from 2022-01-01 00:00 EST: the run after 2023-03-12 07:00Z is 291 whole days
    # (to 2022-10-19 00:00 EDT, 04:00Z) plus 291 * 12 h later: 2023-03-13 16:00Z. The
    # day steps land in 2022, in daylight time, a year before the window.
    schedule = {
        "interval": 129600,
        "anchor_date": "2022-01-01T00:00:00-05:00",
        "timezone": "America/New_York",
    }
    frame = pl.DataFrame({"id": ["x"], "schedule": [json.dumps(schedule)]})
    out = expand_schedules(frame, utc(2023, 3, 12, 7), utc(2023, 3, 16, 7))
    assert out.select("scheduled_time", "local_time").rows() == [
        (utc(2023, 3, 13, 16), datetime(2023, 3, 13, 12)),
        (utc(2023, 3, 15, 4), datetime(2023, 3, 15, 0)),
    ]
    assert expanded_rows(frame, utc(2023, 3, 12, 7), utc(2023, 3, 16, 7), 10) == scalar_rows(
        frame, utc(2023, 3, 12, 7), utc(2023, 3, 16, 7), 10
    )


def second_sundays_of_march(years: range) -> list[date]:
    days = []
    for year in years:
        first = date(year, 3, 1)
        days.append(first + timedelta(days=(6 - first.weekday()) % 7 + 7))
    return days


def test_sparse_cron_over_a_long_window() -> None:
    # Every minute of 02:00-02:59 on the second Sunday of March: that hour never exists
    # in New York, so each year's 60 candidates make one run at 03:00 EDT (07:00Z).
    schedule = {"cron": "* 2 8-14 3 sun", "timezone": "America/New_York", "day_or": False}
    frame = pl.DataFrame({"id": ["x"], "schedule": [json.dumps(schedule)]})
    out = expand_schedules(frame, utc(2023, 1, 1), utc(2040, 12, 31), max_per_schedule=10)
    expected = [
        datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=7)
        for d in second_sundays_of_march(range(2023, 2033))
    ]
    assert out["scheduled_time"].to_list() == expected
    assert out["dst_adjusted"].all()


def test_identical_schedules_and_duplicate_ids() -> None:
    cron = json.dumps({"cron": "0 9 * * *", "timezone": "Europe/Berlin"})
    rrule = json.dumps({"rrule": "FREQ=DAILY;BYHOUR=12", "timezone": "UTC"})
    frame = pl.DataFrame({"id": ["b", "a", "c", "a"], "schedule": [cron, cron, rrule, rrule]})
    start, end = utc(2023, 6, 1), utc(2023, 6, 3)
    rows = expanded_rows(frame, start, end, 1000)
    assert rows == scalar_rows(frame, start, end, 1000)
    assert [(r[0], r[1].hour) for r in rows] == [
        ("a", 7),
        ("a", 12),
        ("a", 7),
        ("a", 12),
        ("b", 7),
        ("b", 7),
        ("c", 12),
        ("c", 12),
    ]


def test_limits_and_empty_inputs() -> None:
    every_minute = json.dumps({"cron": "* * * * *"})
    frame = pl.DataFrame({"id": ["m", "none"], "schedule": [every_minute, None]})
    start = utc(2023, 1, 1)
    assert expand_schedules(frame, start, start + timedelta(days=2)).height == 1000
    assert expand_schedules(frame, start, start + timedelta(days=2), 5000).height == 1000
    assert expand_schedules(frame, start, start + timedelta(days=2), 7)["scheduled_time"].to_list() == [
        start + timedelta(minutes=i) for i in range(7)
    ]
    assert expand_schedules(frame, start, start + timedelta(minutes=2))["scheduled_time"].len() == 3
    for empty in (
        expand_schedules(frame, start, start + timedelta(days=1), 0),
        expand_schedules(frame, start, start - timedelta(seconds=1)),
        expand_schedules(frame.filter(pl.col("id") == "none"), start, start + timedelta(days=1)),
        expand_schedules(frame.clear(), start, start + timedelta(days=1)),
    ):
        assert empty.is_empty() and empty.schema == OUTPUT_SCHEMA


def test_bad_inputs() -> None:
    frame = pl.DataFrame({"id": ["x"], "schedule": [json.dumps({"cron": "0 9 * * *"})]})
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        expand_schedules(frame, datetime(2023, 1, 1), utc(2023, 1, 2))
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        expand_schedules(frame, utc(2023, 1, 1), datetime(2023, 1, 2))
    with pytest.raises(ValueError, match="max_per_schedule"):
        expand_schedules(frame, utc(2023, 1, 1), utc(2023, 1, 2), -1)
    for bad in ('{"cron": "0 9 * * H"}', "{oops", '{"every": 5}'):
        with pytest.raises(ValidationError):
            expand_schedules(pl.DataFrame({"id": ["x"], "schedule": [bad]}), utc(2023, 1, 1), utc(2023, 1, 2))


CRONS = ["0 9 * * *", "*/15 * * * *", "0 0 * * 1-5", "30 2 * * *", "0 */6 * * *", "0 8-18 * * 1-5"]


def fleet(size: int, seed: int = 3) -> pl.DataFrame:
    """A mixed fleet like shared/peer/workload.py: cron, interval, rrule and none."""
    rnd = random.Random(seed)
    schedules = []
    for i in range(size):
        zone = rnd.choice(ZONES)
        kind = i % 4
        if kind == 0:
            schedules.append({"cron": rnd.choice(CRONS), "timezone": zone, "day_or": True})
        elif kind == 1:
            interval = rnd.choice([600, 3600, 86400, 7 * 86400])
            schedules.append(
                {"interval": interval, "anchor_date": "2023-01-01T00:00:00+00:00", "timezone": zone}
            )
        elif kind == 2:
            schedules.append({"rrule": rnd.choice(RRULES[:4]), "timezone": zone})
        else:
            schedules.append(None)
    return pl.DataFrame(
        {"id": [f"{i:05d}" for i in range(size)], "schedule": [s and json.dumps(s) for s in schedules]},
        schema={"id": pl.String, "schedule": pl.String},
    )


def test_fleet_matches_scalar() -> None:
    """10,000 mixed schedules in one call (its speed is measured in benchmarks/, not here)."""
    frame = fleet(10_000)
    start, end = utc(2023, 3, 8), utc(2023, 3, 15)
    out = expand_schedules(frame, start, end)
    sample = frame.head(400)
    assert out.filter(pl.col("id").is_in(sample["id"].implode())).rows() == scalar_rows(
        sample, start, end, 1000
    )


# --------------------------------------------------------------------------- load helpers


def preview() -> pl.DataFrame:
    at = [utc(2023, 1, 1, 9, 0), utc(2023, 1, 1, 9, 30), utc(2023, 1, 1, 9, 45), utc(2023, 1, 1, 10, 5)]
    at += [utc(2023, 1, 2, 9, 0), utc(2023, 1, 2, 9, 10)]
    return pl.DataFrame({"scheduled_time": at, "work_queue_name": ["etl", "etl", "ml", "etl", "ml", "ml"]})


def test_runs_per_period_by_queue() -> None:
    assert runs_per_period(preview()).rows() == [
        ("etl", utc(2023, 1, 1, 9), 2),
        ("etl", utc(2023, 1, 1, 10), 1),
        ("ml", utc(2023, 1, 1, 9), 1),
        ("ml", utc(2023, 1, 2, 9), 2),
    ]


def test_runs_per_period_totals_and_lazy_input() -> None:
    daily = runs_per_period(preview().lazy(), every="1d", by=None)
    assert daily.columns == ["period", "runs"]
    assert daily.rows() == [(utc(2023, 1, 1), 4), (utc(2023, 1, 2), 2)]
    quarter = runs_per_period(preview(), every="15m", by=None)
    assert quarter["runs"].sum() == 6 and quarter["period"].is_sorted()


def test_missing_group_column() -> None:
    with pytest.raises(ValueError, match="no column 'team'"):
        runs_per_period(preview(), by="team")


def test_busiest_windows() -> None:
    assert busiest_windows(preview(), top=2).rows() == [(utc(2023, 1, 1, 9), 3), (utc(2023, 1, 2, 9), 2)]
    by_queue = busiest_windows(preview(), by="work_queue_name", top=3)
    assert by_queue.rows() == [
        ("etl", utc(2023, 1, 1, 9), 2),
        ("ml", utc(2023, 1, 2, 9), 2),
        ("ml", utc(2023, 1, 1, 9), 1),  # ties: earliest bucket first
    ]


def test_busiest_windows_finds_schedule_collisions() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "schedule": [
                json.dumps({"cron": "0 9 * * *"}),
                json.dumps({"cron": "0 10 * * *", "timezone": "Europe/Berlin"}),  # 09:00Z in winter
                json.dumps({"interval": 86400, "anchor_date": "2023-01-01T09:30:00+00:00"}),
                json.dumps({"cron": "0 12 * * *"}),
            ],
        }
    )
    out = expand_schedules(frame, utc(2023, 1, 10), utc(2023, 1, 12, 23))
    top = busiest_windows(out, every="1h", top=1)
    assert top.rows() == [(utc(2023, 1, 10, 9), 3)]


def test_rules_that_fire_like_crons() -> None:
    """Which rrules take the cron path, and that they give the scalar dates there (DST included)."""
    from deploykit.calendar import rule_cron_fields

    like = {
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0": ((0,), (9,), 31, 12, 7),
        "FREQ=WEEKLY": ((0,), (0,), 31, 12, 1),  # DTSTART 2020-01-01 is a Wednesday
        "FREQ=MONTHLY": ((0,), (0,), 1, 12, 7),  # the 1st, from DTSTART
        "FREQ=HOURLY;BYMONTH=3": ((0,), tuple(range(24)), 31, 1, 7),
        "FREQ=MINUTELY;BYDAY=SA,SU": (tuple(range(60)), tuple(range(24)), 31, 12, 2),
    }
    for rule, (minutes, hours, days, months, weekdays) in like.items():
        found = rule_cron_fields(rule)
        assert found is not None, rule
        fields, start = found
        assert (fields.minutes, fields.hours) == (minutes, hours), rule
        assert (len(fields.days), len(fields.months), len(fields.weekdays)) == (days, months, weekdays), rule
        assert start == datetime(2020, 1, 1)
    assert rule_cron_fields("FREQ=WEEKLY")[0].weekdays == (3,)
    for rule in [
        "FREQ=DAILY;INTERVAL=2",
        "FREQ=DAILY;COUNT=5",
        "FREQ=DAILY;UNTIL=20250101T000000",
        "FREQ=YEARLY",
        "FREQ=MONTHLY;BYDAY=1MO",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "FREQ=DAILY;BYSETPOS=1;BYHOUR=1,2",
        "FREQ=MINUTELY;BYSECOND=30",
        "RRULE:FREQ=DAILY\nEXDATE:20230101T000000",
    ]:
        assert rule_cron_fields(rule) is None, rule

    frame = pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(like))],
            "schedule": [json.dumps({"rrule": r, "timezone": "America/New_York"}) for r in like],
        }
    )
    for start in (utc(2023, 3, 10), utc(2023, 11, 3), utc(2019, 12, 30)):
        end = start + timedelta(days=4)
        assert expanded_rows(frame, start, end, 1000) == scalar_rows(frame, start, end, 1000)
