"""Schedules (SPEC.md section 4): validation, dates, DST rules, descriptions, JSON shape.

Expected dates are written out by hand (2023 US DST: 12 March 02:00 -> 03:00 and
5 November 02:00 -> 01:00 in America/New_York), taken from Prefect 2.10's own scheduler
(the runs recorded in shared/fixtures/prefect-2.10), or computed by croniter.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from deploykit.calendar import MAX_DATES, parse_cron
from deploykit.schemas.schedules import (
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    parse_schedule,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
EDT = timezone(timedelta(hours=-4))
EST = timezone(timedelta(hours=-5))


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def in_2023(*times: tuple[Any, ...]) -> list[datetime]:
    """Instants of 2023, each written ``(month, day, hour[, minute], zone)``: short rows of expected runs."""
    return [datetime(2023, *when, tzinfo=zone) for *when, zone in times]


def assert_only_middle_run_moved(runs: list[Any], *expected: tuple[Any, ...]) -> None:
    """Three runs on the ``expected`` instants (:func:`in_2023` rows); only the middle one DST-adjusted."""
    assert same_instants([r.when for r in runs], in_2023(*expected))
    assert [r.dst_adjusted for r in runs] == [False, True, False]


def same_instants(got: list[datetime], expected: list[datetime]) -> bool:
    """Equal instants *and* equal UTC offsets.

    (``==`` ignores offsets, and is always False across zones for a wall time that
    occurs twice, PEP 495.)
    """
    return [(d.timestamp(), d.utcoffset()) for d in got] == [(d.timestamp(), d.utcoffset()) for d in expected]


def error_of(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str]:
    (error,) = exc.value.errors()
    return error["loc"], error["msg"]


# --------------------------------------------------------------------------- interval


class TestInterval:
    def test_daily_keeps_wall_clock_across_spring_forward(self) -> None:
        s = IntervalSchedule(interval=timedelta(days=1), anchor_date=ny(2023, 1, 1, 9))
        dates = s.get_dates(3, start=ny(2023, 3, 11))
        expected = in_2023((3, 11, 9, EST), (3, 12, 9, EDT), (3, 13, 9, EDT))
        assert same_instants(dates, expected)
        assert all(d.tzinfo == NY for d in dates)

    def test_hourly_counts_real_hours_across_fall_back(self) -> None:
        s = IntervalSchedule(
            interval=timedelta(hours=1),
            anchor_date=datetime(2023, 11, 5, tzinfo=EDT),
            timezone="America/New_York",
        )
        dates = s.get_dates(4, start=datetime(2023, 11, 5, tzinfo=EDT))
        expected = in_2023((11, 5, 0, EDT), (11, 5, 1, EDT), (11, 5, 1, EST), (11, 5, 2, EST))
        assert same_instants(dates, expected)
        assert {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(dates)} == {3600}

    @pytest.mark.parametrize(
        ("anchor", "start", "expected"),
        [
            pytest.param(
                (2, 30),
                (3, 11),
                [(3, 11, 2, 30, EST), (3, 12, 3, 30, EDT), (3, 13, 2, 30, EDT)],
                id="nonexistent_wall_time_moves_forward_by_the_gap",
            ),
            pytest.param(
                (1, 30),
                (11, 4),
                [(11, 4, 1, 30, EDT), (11, 5, 1, 30, EDT), (11, 6, 1, 30, EST)],
                id="ambiguous_wall_time_takes_the_earlier_instant",
            ),
        ],
    )
    def test_daily_wall_time_on_a_dst_change(
        self, anchor: tuple, start: tuple, expected: list[tuple]
    ) -> None:
        """A daily run at a wall time DST skips (moved forward by the gap) or repeats (earlier instant)."""
        s = IntervalSchedule(interval=timedelta(days=1), anchor_date=ny(2023, 1, 1, *anchor))
        assert_only_middle_run_moved(s.occurrences(3, start=ny(2023, *start)), *expected)

    def test_anchor_on_the_second_pass_of_a_repeated_hour(self) -> None:
        anchor = datetime(2023, 11, 5, 1, 30, fold=1, tzinfo=NY)  # 01:30 EST
        s = IntervalSchedule(interval=timedelta(days=1), anchor_date=anchor)
        assert same_instants(s.get_dates(1, start=anchor), [datetime(2023, 11, 5, 1, 30, tzinfo=EST)])
        # a year later the wall time 01:30 repeats again: the first pass is taken
        (later,) = s.get_dates(1, start=ny(2024, 11, 3))
        assert same_instants([later], [datetime(2024, 11, 3, 1, 30, tzinfo=EDT)])

    def test_flags_every_run_on_a_repeated_wall_time(self) -> None:
        sydney = ZoneInfo("Australia/Sydney")  # 2023-04-02 03:00 AEDT -> 02:00 AEST
        s = IntervalSchedule(
            interval=timedelta(minutes=30), anchor_date=utc(2023, 1, 1), timezone="Australia/Sydney"
        )
        runs = s.occurrences(start=utc(2023, 4, 1, 14, 30), end=utc(2023, 4, 1, 17))
        assert [(r.when.astimezone(sydney).strftime("%H:%M%z"), r.dst_adjusted) for r in runs] == [
            ("01:30+1100", False),
            ("02:00+1100", True),
            ("02:30+1100", True),
            ("02:00+1000", True),
            ("02:30+1000", True),
            ("03:00+1000", False),
        ]

    def test_day_part_local_and_sub_day_part_absolute(self) -> None:
        # 1 day 12 hours from 2023-03-10 09:00 EST: k=1 -> 03-11 09:00 EST + 12h;
        # k=2 -> 03-12 09:00 EDT (2 local days) + 24 real hours = 03-13 09:00 EDT.
        s = IntervalSchedule(interval=timedelta(days=1, hours=12), anchor_date=ny(2023, 3, 10, 9))
        assert same_instants(
            s.get_dates(3, start=ny(2023, 3, 10, 9)),
            in_2023((3, 10, 9, EST), (3, 11, 21, EST), (3, 13, 9, EDT)),
        )

    def test_anchor_after_start(self) -> None:
        s = IntervalSchedule(interval=timedelta(hours=5), anchor_date=utc(2030, 1, 1))
        # 2023-01-01 00:00 is 2557 days = 61,368 hours = 12,273.6 steps before the anchor
        assert s.get_dates(2, start=utc(2023, 1, 1)) == [utc(2023, 1, 1, 3), utc(2023, 1, 1, 8)]
        assert s.get_dates(1, start=utc(2029, 12, 31, 20)) == [utc(2030, 1, 1)]

    def test_start_on_a_date_is_inclusive(self) -> None:
        s = IntervalSchedule(interval=timedelta(minutes=10), anchor_date=utc(2023, 1, 1))
        assert s.get_dates(1, start=utc(2023, 5, 5, 5, 50)) == [utc(2023, 5, 5, 5, 50)]

    def test_timezone_defaults(self) -> None:
        assert IntervalSchedule(interval=60, anchor_date=ny(2023, 1, 1)).timezone == ("America/New_York")
        assert IntervalSchedule(interval=60, anchor_date=utc(2023, 1, 1)).timezone == "UTC"
        fixed = IntervalSchedule(interval=60, anchor_date="2023-01-01T09:00:00+01:00")
        assert fixed.timezone == "UTC"  # an offset is not an IANA zone (as in Prefect)
        naive = IntervalSchedule(interval=60, anchor_date=datetime(2023, 6, 1, 9))
        assert (naive.timezone, naive.anchor_date) == ("UTC", utc(2023, 6, 1, 9))
        local = IntervalSchedule(interval=60, anchor_date=datetime(2023, 6, 1, 9), timezone="Europe/Berlin")
        assert local.anchor_date == datetime(2023, 6, 1, 9, tzinfo=BERLIN)

    def test_anchor_defaults_to_now(self) -> None:
        before = datetime.now(UTC)
        s = IntervalSchedule(interval=timedelta(hours=1))
        assert before <= s.anchor_date <= datetime.now(UTC)
        assert s.timezone == "UTC"

    @pytest.mark.parametrize("value", [3600, 3600.0, "PT1H", timedelta(hours=1)])
    def test_interval_input_forms(self, value: object) -> None:
        s = IntervalSchedule(interval=value, anchor_date=utc(2023, 1, 1))
        assert s.interval == timedelta(hours=1)

    @pytest.mark.parametrize(
        ("value", "shown"), [(0, "0.0 seconds"), (-1, "-1.0 seconds"), ("-PT5M", "-300.0 seconds")]
    )
    def test_non_positive_interval_rejected(self, value: object, shown: str) -> None:
        with pytest.raises(ValidationError) as exc:
            IntervalSchedule(interval=value)
        loc, msg = error_of(exc)
        assert loc == ("interval",)
        assert "positive" in msg and shown in msg

    def test_unknown_timezone_rejected(self) -> None:
        with pytest.raises(ValidationError) as exc:
            IntervalSchedule(interval=60, timezone="Mars/Olympus_Mons")
        loc, msg = error_of(exc)
        assert loc == ("timezone",) and "Mars/Olympus_Mons" in msg


# --------------------------------------------------------------------------- cron


class TestCron:
    def test_wall_time_in_gap_fires_once_after_the_gap(self) -> None:
        s = CronSchedule(cron="30 2 * * *", timezone="America/New_York")
        assert_only_middle_run_moved(
            s.occurrences(3, start=ny(2023, 3, 11)),
            (3, 11, 2, 30, EST),
            (3, 12, 3, 0, EDT),
            (3, 13, 2, 30, EDT),
        )

    @pytest.mark.parametrize(
        ("cron", "day", "expected"),
        [
            pytest.param("*/20 2 * * *", (3, 12), (3, 12, 3, 0, EDT), id="several_gap_wall_times_fire_once"),
            pytest.param(
                "30 1 * * *",
                (11, 5),
                (11, 5, 1, 30, EDT),
                id="repeated_wall_time_fires_once_at_first_occurrence",
            ),
        ],
    )
    def test_wall_times_dst_skips_or_repeats_fire_once(self, cron: str, day: tuple, expected: tuple) -> None:
        """Every cron match in the skipped hour fires once after it; a repeated one at its first pass."""
        s = CronSchedule(cron=cron, timezone="America/New_York")
        dates = s.get_dates(start=ny(2023, *day), end=ny(2023, *day, 23))
        assert same_instants(dates, in_2023(expected))

    def test_gap_run_merges_with_a_real_match(self) -> None:
        s = CronSchedule(cron="30 2,3 * * *", timezone="America/New_York")
        runs = s.occurrences(start=ny(2023, 3, 12), end=ny(2023, 3, 12, 23))
        assert [(r.when.hour, r.when.minute, r.dst_adjusted) for r in runs] == [
            (3, 0, True),
            (3, 30, False),
        ]

    def test_hourly_on_fall_back_day(self) -> None:
        s = CronSchedule(cron="0 * * * *", timezone="America/New_York")
        assert_only_middle_run_moved(
            s.occurrences(3, start=ny(2023, 11, 5)), (11, 5, 0, EDT), (11, 5, 1, EDT), (11, 5, 2, EST)
        )

    def test_start_inside_the_repeated_hour(self) -> None:
        s = CronSchedule(cron="*/15 * * * *", timezone="America/New_York")
        start = datetime(2023, 11, 5, 1, 20, tzinfo=EST)  # second pass through 01:20
        assert same_instants(s.get_dates(1, start=start), [datetime(2023, 11, 5, 2, tzinfo=EST)])

    def test_timezone_none_is_utc(self) -> None:
        s = CronSchedule(cron="0 9 * * *")
        (d,) = s.get_dates(start=utc(2023, 6, 1))
        assert d == utc(2023, 6, 1, 9) and d.tzinfo == ZoneInfo("UTC")

    def test_day_or_true_is_union(self) -> None:
        s = CronSchedule(cron="0 0 13 * fri")
        days = [d.date() for d in s.get_dates(8, start=utc(2023, 1, 1))]
        assert days == [
            *(date(2023, 1, d) for d in (6, 13, 20, 27)),
            *(date(2023, 2, d) for d in (3, 10, 13, 17)),
        ]

    def test_day_or_false_is_intersection(self) -> None:
        s = CronSchedule(cron="0 0 13 * fri", day_or=False)
        days = [d.date() for d in s.get_dates(3, start=utc(2023, 1, 1))]
        assert days == [date(2023, 1, 13), date(2023, 10, 13), date(2024, 9, 13)]

    def test_one_restricted_day_field_is_not_or_ed(self) -> None:
        s = CronSchedule(cron="0 0 1 * *")
        assert [d.date() for d in s.get_dates(2, start=utc(2023, 1, 2))] == [
            date(2023, 2, 1),
            date(2023, 3, 1),
        ]

    @pytest.mark.parametrize(
        ("alias", "expression"),
        [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@DAILY", "0 0 * * *"),
        ],
    )
    def test_aliases(self, alias: str, expression: str) -> None:
        start = utc(2023, 3, 15, 7, 30)
        got = CronSchedule(cron=alias, timezone="Europe/Berlin").get_dates(5, start=start)
        want = CronSchedule(cron=expression, timezone="Europe/Berlin").get_dates(5, start=start)
        assert got == want and len(got) == 5

    def test_month_and_weekday_names(self) -> None:
        named = parse_cron("0 9 * JAN,jul Mon-FRI")
        assert named == parse_cron("0 9 * 1,7 1-5")
        assert parse_cron("0 0 * * sun") == parse_cron("0 0 * * 7") == parse_cron("0 0 * * 0")
        dates = CronSchedule(cron="0 9 * jan,jul mon-fri").get_dates(3, start=utc(2023, 1, 27))
        assert [d.date() for d in dates] == [
            date(2023, 1, 27),
            date(2023, 1, 30),
            date(2023, 1, 31),
        ]

    def test_field_syntax(self) -> None:
        fields = parse_cron("5/20 22-2 */10 nov-feb fri-mon")
        assert fields.minutes == (5, 25, 45)
        assert fields.hours == (0, 1, 2, 22, 23)
        assert fields.days == (1, 11, 21, 31)
        assert fields.months == (1, 2, 11, 12)
        assert fields.weekdays == (0, 1, 5, 6)
        assert parse_cron("0-10/5,30 * * * 1-7").minutes == (0, 5, 10, 30)
        assert parse_cron("0 * * * 1-7").weekdays == tuple(range(7))

    @pytest.mark.parametrize(
        ("cron", "needle"),
        [
            ("0 0 * * R", "(R, H)"),
            ("H * * * *", "(R, H)"),
            ("H(0-29)/10 * * * *", "(R, H)"),
            ("0 r * * *", "(R, H)"),
            ("* * * *", "got 4"),
            ("0 0 * * * 2023", "got 6"),
            ("", "got 0"),
            ("60 * * * *", "out of range"),
            ("0 24 * * *", "out of range"),
            ("0 0 0 * *", "out of range"),
            ("0 0 32 * *", "out of range"),
            ("0 0 * 13 *", "out of range"),
            ("0 0 * * 8", "out of range"),
            ("*/0 * * * *", "step '0'"),
            ("0 0 L * *", "only numbers"),
            ("0 0 * * 1#2", "nth-weekday"),
            ("0 0 * foo *", "not acceptable"),
            ("0 0 * * jan", "not acceptable"),
            ("0 0 1,,2 * *", "not acceptable"),
            ("*-5 * * * *", "not acceptable"),
            ("@every_hour", "got 1"),
        ],
    )
    def test_bad_expressions_rejected(self, cron: str, needle: str) -> None:
        with pytest.raises(ValidationError) as exc:
            CronSchedule(cron=cron)
        loc, msg = error_of(exc)
        assert loc == ("cron",)
        assert repr(cron) in msg and needle in msg

    def test_never_firing_expression_rejected(self) -> None:
        with pytest.raises(ValidationError, match="never fires"):
            CronSchedule(cron="0 0 30,31 2 *")
        with pytest.raises(ValidationError, match="never fires"):
            CronSchedule(cron="0 0 31 2 mon", day_or=False)
        assert CronSchedule(cron="0 0 31 2 mon").get_dates(1, start=utc(2023, 1, 1)) == [utc(2023, 2, 6)]

    def test_leap_day_only(self) -> None:
        s = CronSchedule(cron="0 0 29 2 *")
        assert s.get_dates(2, start=utc(2023, 1, 1)) == [utc(2024, 2, 29), utc(2028, 2, 29)]

    def test_unknown_timezone_rejected(self) -> None:
        with pytest.raises(ValidationError) as exc:
            CronSchedule(cron="0 0 * * *", timezone="Europe/Atlantis")
        loc, msg = error_of(exc)
        assert loc == ("timezone",) and "Europe/Atlantis" in msg
        with pytest.raises(ValidationError):
            CronSchedule(cron="0 0 * * *", timezone="localtime")


DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """A croniter-compatible field: '*', values, ranges (low < high), steps, lists."""

    def value(v: int) -> str:
        return names[v - low] if names and draw(st.booleans()) else str(v)

    def item() -> str:
        kind = draw(st.sampled_from(["value", "range", "range_step", "star_step", "value_step"]))
        a = draw(st.integers(low, high))
        step = draw(st.integers(1, high - low + 2))
        if kind == "value":
            return value(a)
        if kind == "star_step":
            return f"*/{step}"
        if kind == "value_step":
            return f"{a}/{step}"
        b = draw(st.integers(low, high).filter(lambda b: b != a))
        a, b = min(a, b), max(a, b)
        suffix = f"/{step}" if kind == "range_step" else ""
        return f"{value(a)}-{value(b)}{suffix}"

    if draw(st.integers(0, 3)) == 0:
        return "*"
    return ",".join(item() for _ in range(draw(st.integers(1, 3))))


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    return " ".join(
        [
            draw(cron_field(0, 59)),
            draw(cron_field(0, 23)),
            draw(cron_field(1, 31)),
            draw(cron_field(1, 12, MONTH_NAMES)),
            draw(cron_field(0, 6, DOW_NAMES)),
        ]
    )


def croniter_reads_day_fields_like_us(expression: str, day_or: bool) -> bool:
    """croniter >= 2 OR-s a full-but-spelled-out day field with a restricted other one."""
    fields = parse_cron(expression)
    parts = expression.split()
    dom_full = len(fields.days) == 31 and parts[2] != "*"
    dow_full = len(fields.weekdays) == 7 and parts[4] != "*"
    quirky = (dom_full and len(fields.weekdays) < 7 and "*" not in parts[4]) or (
        dow_full and len(fields.days) < 31 and "*" not in parts[2]
    )
    return not (day_or and quirky)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expression=cron_expressions(),
    day_or=st.booleans(),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)),
    n=st.integers(1, 12),
)
def test_cron_matches_croniter_in_utc(expression: str, day_or: bool, start: datetime, n: int) -> None:
    assume(parse_cron(expression).can_fire(day_or))
    assume(croniter_reads_day_fields_like_us(expression, day_or))
    start = start.replace(microsecond=0, tzinfo=UTC)
    oracle = croniter(expression, start - timedelta(seconds=1), day_or=day_or)
    expected = [oracle.get_next(datetime) for _ in range(n)]
    assert CronSchedule(cron=expression, day_or=day_or).get_dates(n, start=start) == expected


# --------------------------------------------------------------------------- rrule


class TestRRule:
    def test_daily_rule_keeps_local_time(self) -> None:
        s = RRuleSchedule(rrule="FREQ=DAILY;BYHOUR=9", timezone="America/New_York")
        assert same_instants(
            s.get_dates(2, start=ny(2023, 3, 11, 12)),
            [datetime(2023, 3, 12, 9, tzinfo=EDT), datetime(2023, 3, 13, 9, tzinfo=EDT)],
        )

    def test_dst_rules(self) -> None:
        s = RRuleSchedule(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30", timezone="America/New_York")
        runs = s.occurrences(start=ny(2023, 3, 12), end=ny(2023, 3, 12, 23))
        assert [(r.when, r.dst_adjusted) for r in runs] == [(datetime(2023, 3, 12, 3, 30, tzinfo=EDT), True)]
        s = s.model_copy(update={"rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=30"})
        assert same_instants(
            s.get_dates(start=ny(2023, 11, 5), end=ny(2023, 11, 5, 23)),
            [datetime(2023, 11, 5, 1, 30, tzinfo=EDT)],
        )

    def test_dtstart_and_until_read_in_the_schedule_zone(self) -> None:
        rule = "DTSTART:20230101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20230103T090000Z"
        s = RRuleSchedule(rrule=rule, timezone="Europe/Berlin")
        assert s.get_dates(10, start=utc(2022, 1, 1)) == [
            datetime(2023, 1, d, 9, tzinfo=BERLIN) for d in (1, 2, 3)
        ]
        tzid = "DTSTART;TZID=America/New_York:20230101T090000\nRRULE:FREQ=DAILY;COUNT=1"
        assert RRuleSchedule(rrule=tzid, timezone="Asia/Tokyo").get_dates(start=utc(2022, 1, 1)) == [
            datetime(2023, 1, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
        ]

    def test_rule_set_lines(self) -> None:
        rule = "\n".join(
            [
                "DTSTART:20230102T080000",
                "RRULE:FREQ=DAILY;COUNT=5",
                "EXDATE:20230103T080000",
                "RDATE:20230110T120000",
                "EXRULE:FREQ=DAILY;INTERVAL=4;COUNT=2",
            ]
        )
        s = RRuleSchedule(rrule=rule)
        assert [d.replace(tzinfo=None) for d in s.get_dates(10, start=utc(2023, 1, 1))] == [
            datetime(2023, 1, 4, 8),
            datetime(2023, 1, 5, 8),
            datetime(2023, 1, 10, 12),
        ]

    def test_default_start_is_2020_01_01(self) -> None:
        s = RRuleSchedule(rrule="FREQ=DAILY;INTERVAL=3")
        (first,) = s.get_dates(start=utc(2023, 1, 1))
        assert (first.date() - date(2020, 1, 1)).days % 3 == 0
        assert first - utc(2023, 1, 1) < timedelta(days=3)
        assert first.time().isoformat() == "00:00:00"
        assert RRuleSchedule(rrule="FREQ=DAILY;COUNT=3").get_dates(start=utc(2023, 1, 1)) == []

    def test_timezone_none_is_utc(self) -> None:
        assert RRuleSchedule(rrule="FREQ=DAILY", timezone=None).timezone == "UTC"

    @pytest.mark.parametrize(
        "rule",
        ["FREQ=FOO", "not a rule", "FREQ=DAILY;BYHOUR=25", "", "FREQ=HOURLY;INTERVAL=2;BYHOUR=1"],
    )
    def test_bad_rules_rejected(self, rule: str) -> None:
        with pytest.raises(ValidationError) as exc:
            RRuleSchedule(rrule=rule)
        loc, msg = error_of(exc)
        assert loc == ("rrule",) and repr(rule) in msg

    def test_length_limit(self) -> None:
        padded = "FREQ=DAILY".ljust(6500)
        assert RRuleSchedule(rrule=padded).get_dates(1, start=utc(2023, 1, 1)) == [utc(2023, 1, 1)]
        with pytest.raises(ValidationError) as exc:
            RRuleSchedule(rrule=padded + " ")
        loc, msg = error_of(exc)
        assert loc == ("rrule",) and "6501" in msg and "FREQ=DAILY" in msg

    def test_unknown_timezone_rejected(self) -> None:
        with pytest.raises(ValidationError) as exc:
            RRuleSchedule(rrule="FREQ=DAILY", timezone="UTC+2")
        assert error_of(exc)[0] == ("timezone",)


@st.composite
def simple_rules(draw: st.DrawFn) -> tuple[str, datetime]:
    """A weekly-or-finer rule with a DTSTART, and a start some periods after it."""
    freq = draw(st.sampled_from(["WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 5))}"]
    if draw(st.booleans()):
        hours = draw(st.sets(st.integers(0, 23), min_size=1, max_size=3))
        parts.append(f"BYHOUR={','.join(map(str, sorted(hours)))}")
    if draw(st.booleans()):
        days = draw(st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1))
        parts.append(f"BYDAY={','.join(sorted(days))}")
    if freq in ("WEEKLY", "DAILY") and draw(st.booleans()):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1]))}")
    # sometimes near the ends of the supported years (extreme but valid, issue 15)
    dtstart = draw(
        st.one_of(
            st.datetimes(datetime(2020, 1, 1), datetime(2024, 1, 1)),
            st.datetimes(datetime(1900, 1, 1), datetime(1901, 1, 1)),
            st.datetimes(datetime(2185, 1, 1), datetime(2190, 1, 1)),
        )
    )
    if draw(st.booleans()) and dtstart.year < 2030:
        parts.append("UNTIL=20300101T000000")
    reach = {"WEEKLY": 3000, "DAILY": 1000, "HOURLY": 100, "MINUTELY": 5}[freq]
    start = dtstart + draw(st.timedeltas(timedelta(0), timedelta(days=reach)))
    rule = f"DTSTART:{dtstart:%Y%m%dT%H%M%S}\nRRULE:{';'.join(parts)}"
    return rule, start.replace(microsecond=0)


@settings(max_examples=80, deadline=None)
@given(rule_and_start=simple_rules(), n=st.integers(1, 8))
def test_rrule_matches_plain_dateutil_iteration(rule_and_start: tuple[str, datetime], n: int) -> None:
    rule, start = rule_and_start
    try:
        schedule = RRuleSchedule(rrule=rule)
    except ValidationError:  # rejected up front only what dateutil fails on later
        with pytest.raises(ValueError, match="empty set"):
            next(iter(rrulestr(rule)))
        return
    got = schedule.get_dates(n, start=start.replace(tzinfo=UTC))
    expected = itertools.islice(rrulestr(rule).xafter(start, inc=True), n)
    assert [d.replace(tzinfo=None) for d in got] == list(expected)


# --------------------------------------------------------------------------- common rules


ALL_KINDS = [
    CronSchedule(cron="*/5 * * * *", timezone="Europe/Berlin"),
    IntervalSchedule(interval=300, anchor_date=utc(2023, 1, 1), timezone="Europe/Berlin"),
    RRuleSchedule(rrule="FREQ=MINUTELY;INTERVAL=5", timezone="Europe/Berlin"),
]


@pytest.mark.parametrize("schedule", ALL_KINDS, ids=lambda s: s.kind)
class TestCommonRules:
    def test_n_defaults(self, schedule) -> None:
        start = utc(2023, 5, 1)
        assert len(schedule.get_dates(start=start)) == 1
        assert len(schedule.get_dates(start=start, end=start + timedelta(days=1))) == 289
        assert len(schedule.get_dates(start=start, end=start + timedelta(days=10))) == MAX_DATES
        assert len(schedule.get_dates(5000, start=start)) == MAX_DATES
        assert schedule.get_dates(0, start=start) == []
        with pytest.raises(ValueError, match="n must be >= 0"):
            schedule.get_dates(-1)

    def test_start_defaults_to_now(self, schedule) -> None:
        before = datetime.now(UTC)
        (d,) = schedule.get_dates()
        assert before - timedelta(seconds=1) <= d <= before + timedelta(minutes=5, seconds=1)

    def test_bounds_inclusive_sorted_unique_aware(self, schedule) -> None:
        start, end = utc(2023, 3, 26, 0, 0), utc(2023, 3, 26, 2, 0)  # Berlin springs forward
        dates = schedule.get_dates(start=start, end=end)
        assert dates[0] == start and dates[-1] == end
        assert dates == sorted(set(dates))
        assert all(d.tzinfo == BERLIN for d in dates)

    def test_naive_bounds_read_in_schedule_zone(self, schedule) -> None:
        dates = schedule.get_dates(start=datetime(2023, 7, 1, 12), end=datetime(2023, 7, 1, 12, 10))
        assert dates == [datetime(2023, 7, 1, 12, m, tzinfo=BERLIN) for m in (0, 5, 10)]

    def test_end_before_start(self, schedule) -> None:
        assert schedule.get_dates(start=utc(2023, 1, 2), end=utc(2023, 1, 1)) == []

    def test_extra_fields_forbidden(self, schedule) -> None:
        data = schedule.model_dump() | {"unexpected": 1}
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            type(schedule)(**data)


# --------------------------------------------------------------------------- Prefect 2.10


PREFECT_RUNS = [  # auto-scheduled by Prefect 2.10 from 2023-06-01T00:00Z (no DST change)
    (
        {
            "interval": 21600.0,
            "anchor_date": "2023-01-01T09:00:00+01:00",
            "timezone": "Europe/Berlin",
        },
        ["2023-06-01T02:00:00+00:00", "2023-06-01T08:00:00+00:00", "2023-06-01T14:00:00+00:00"],
    ),
    (
        {
            "interval": 3600.0,
            "anchor_date": "2023-01-01T09:00:00+01:00",
            "timezone": "Europe/Berlin",
        },
        ["2023-06-01T00:00:00+00:00", "2023-06-01T01:00:00+00:00", "2023-06-01T02:00:00+00:00"],
    ),
    (
        {"cron": "0 0 * * 1-5", "timezone": "Europe/Berlin", "day_or": True},
        ["2023-06-01T22:00:00+00:00", "2023-06-04T22:00:00+00:00", "2023-06-05T22:00:00+00:00"],
    ),
    (
        {"cron": "0 9 * * *", "timezone": "America/New_York", "day_or": True},
        ["2023-06-01T13:00:00+00:00", "2023-06-02T13:00:00+00:00", "2023-06-03T13:00:00+00:00"],
    ),
    (
        {"cron": "*/30 * * * *", "timezone": "Europe/Berlin", "day_or": True},
        ["2023-06-01T00:00:00+00:00", "2023-06-01T00:30:00+00:00", "2023-06-01T01:00:00+00:00"],
    ),
    (
        {"cron": "30 2 * * *", "timezone": "America/New_York", "day_or": True},
        ["2023-06-01T06:30:00+00:00", "2023-06-02T06:30:00+00:00", "2023-06-03T06:30:00+00:00"],
    ),
]


@pytest.mark.parametrize(("data", "expected"), PREFECT_RUNS)
def test_agrees_with_prefect_away_from_dst(data: dict, expected: list[str]) -> None:
    dates = parse_schedule(data).get_dates(3, start=utc(2023, 6, 1))
    assert dates == [datetime.fromisoformat(e) for e in expected]


def test_daily_interval_differs_from_prefect_on_purpose() -> None:
    # Prefect 2.10 jumps from the winter anchor in absolute seconds and fires at
    # 10:00 CEST (08:00Z) in June; SPEC keeps the anchor's 09:00 wall-clock time.
    data = {
        "interval": 86400.0,
        "anchor_date": "2023-01-01T09:00:00+01:00",
        "timezone": "Europe/Berlin",
    }
    (first,) = parse_schedule(data).get_dates(1, start=utc(2023, 6, 1))
    assert first == utc(2023, 6, 1, 7)


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (
            CronSchedule(cron="0 9 * * 1-5", timezone="America/New_York"),
            "At 09:00 AM, Monday through Friday (America/New_York)",
        ),
        (CronSchedule(cron="@hourly"), "Every hour (UTC)"),
        (CronSchedule(cron="0 0 * * 3,*/2"), "cron 0 0 * * 3,*/2 (UTC)"),  # beyond cron-descriptor
        (CronSchedule(cron="*/15 * * * *"), "Every 15 minutes (UTC)"),
        (
            CronSchedule(cron="0 0 1,15 * 5"),
            "At 12:00 AM, on day 1 and 15 of the month, or on Friday (UTC)",
        ),
        (
            CronSchedule(cron="0 0 1,15 * 5", day_or=False),
            "At 12:00 AM, on day 1 and 15 of the month, and on Friday (UTC)",
        ),
        (
            IntervalSchedule(interval=21600, anchor_date=datetime(2023, 1, 1, 9, tzinfo=BERLIN)),
            "every 6 hours from 2023-01-01 09:00 CET",
        ),
        (
            IntervalSchedule(interval=86400, anchor_date=utc(2023, 7, 1)),
            "every day from 2023-07-01 00:00 UTC",
        ),
        (
            IntervalSchedule(interval=1209600, anchor_date=utc(2023, 7, 1)),
            "every 2 weeks from 2023-07-01 00:00 UTC",
        ),
        (
            IntervalSchedule(interval=90.5, anchor_date=utc(2023, 7, 1)),
            "every 1 minute and 30.5 seconds from 2023-07-01 00:00 UTC",
        ),
        (
            RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7", timezone="Asia/Tokyo"),
            "Every week on Monday, Wednesday and Friday at 07:00 (Asia/Tokyo)",
        ),
        (
            RRuleSchedule(rrule="FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=1,15;BYHOUR=0"),
            "Every 2 months on day 1 and 15 at 00:00 (UTC)",
        ),
        (
            RRuleSchedule(rrule="FREQ=DAILY;BYMONTH=1,7;BYHOUR=6,18;BYMINUTE=30"),
            "Every day in January and July at 06:30 and 18:30 (UTC)",
        ),
        (
            RRuleSchedule(rrule="FREQ=WEEKLY;INTERVAL=2"),
            "Every 2 weeks on Wednesday at 00:00 (UTC)",
        ),
        (RRuleSchedule(rrule="RRULE:FREQ=MONTHLY"), "Every month on day 1 at 00:00 (UTC)"),
        (RRuleSchedule(rrule="FREQ=YEARLY"), "RRULE FREQ=YEARLY (UTC)"),
        (RRuleSchedule(rrule="FREQ=HOURLY;BYHOUR=9"), "RRULE FREQ=HOURLY;BYHOUR=9 (UTC)"),
    ],
)
def test_describe(schedule, text: str) -> None:
    assert schedule.describe() == text


# --------------------------------------------------------------------------- JSON shape


class Deployment(BaseModel):
    name: str
    schedule: Schedule | None = None


@pytest.mark.parametrize(
    ("schedule", "shape"),
    [
        (
            IntervalSchedule(interval=timedelta(hours=1), anchor_date=utc(2023, 1, 1)),
            {"interval": 3600.0, "anchor_date": "2023-01-01T00:00:00+00:00", "timezone": "UTC"},
        ),
        (
            IntervalSchedule(interval=60, anchor_date=datetime(2023, 1, 1, 9, tzinfo=BERLIN)),
            {
                "interval": 60.0,
                "anchor_date": "2023-01-01T09:00:00+01:00",
                "timezone": "Europe/Berlin",
            },
        ),
        (
            CronSchedule(cron="0 9 * * *"),
            {"cron": "0 9 * * *", "timezone": None, "day_or": True},
        ),
        (
            RRuleSchedule(rrule="FREQ=DAILY", timezone="Asia/Tokyo"),
            {"rrule": "FREQ=DAILY", "timezone": "Asia/Tokyo"},
        ),
    ],
)
def test_json_round_trip(schedule, shape: dict) -> None:
    dumped = schedule.model_dump(mode="json")
    assert dumped == shape
    for data in (dumped, json.dumps(dumped), schedule):
        again = parse_schedule(data)
        assert type(again) is type(schedule) and again == schedule
    assert again.get_dates(3, start=utc(2024, 1, 1)) == schedule.get_dates(3, start=utc(2024, 1, 1))
    model = Deployment.model_validate_json(json.dumps({"name": "d", "schedule": dumped}))
    assert model.schedule == schedule
    assert model.model_dump(mode="json")["schedule"] == shape


def test_kinds() -> None:
    assert [s.kind for s in ALL_KINDS] == ["cron", "interval", "rrule"]
    assert (IntervalSchedule.kind, CronSchedule.kind, RRuleSchedule.kind) == (
        "interval",
        "cron",
        "rrule",
    )


def test_schedule_field_type_picks_by_key() -> None:
    assert isinstance(Deployment(name="d", schedule={"cron": "0 9 * * *"}).schedule, CronSchedule)
    assert isinstance(Deployment(name="d", schedule={"interval": 60}).schedule, IntervalSchedule)
    assert isinstance(Deployment(name="d", schedule={"rrule": "FREQ=DAILY"}).schedule, RRuleSchedule)
    assert Deployment(name="d").schedule is None
    assert parse_schedule(None) is None
    cron = CronSchedule(cron="@daily")
    assert parse_schedule(cron) is cron


@pytest.mark.parametrize(
    ("data", "loc", "needle"),
    [
        ({"cron": "0 9 * * *", "interval": 60}, ("schedule",), "exactly one of the keys"),
        ({"every": "day"}, ("schedule",), "exactly one of the keys"),
        (
            {"cron": "0 9 * * *", "anchor_date": "2023-01-01"},
            ("schedule", "cron", "anchor_date"),
            "Extra",
        ),
        ({"cron": "0 25 * * *"}, ("schedule", "cron", "cron"), "'0 25 * * *'"),
        ({"interval": -60}, ("schedule", "interval", "interval"), "positive"),
        ("{not json", ("schedule",), "not valid JSON"),
    ],
)
def test_schedule_field_errors(data: object, loc: tuple, needle: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Deployment(name="d", schedule=data)
    got_loc, msg = error_of(exc)
    assert got_loc == loc and needle in msg
