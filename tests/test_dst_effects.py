"""Issue 13 item 4: where DST changes a schedule's runs (moved, merged, doubled)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from deploykit.scheduling import DST_SCHEMA, dst_effects, expand_schedules, schedule_dst_effects
from deploykit.schemas.schedules import CronSchedule, IntervalSchedule

YEAR = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


def _frame(**schedules: str | None) -> pl.DataFrame:
    return pl.DataFrame({"id": list(schedules), "schedule": list(schedules.values())})


def _rows(out: pl.DataFrame) -> list[tuple[str, str, str]]:
    return out.select("id", "effect", pl.col("wall_time").dt.strftime("%m-%d %H:%M")).rows()


def test_spring_forward_gap_swallows_half_hour_runs_and_says_so():
    out = dst_effects(_frame(a='{"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}'), *YEAR)
    gap = out.filter(pl.col("effect") == "merged")
    assert _rows(gap) == [("a", "merged", "03-28 02:00"), ("a", "merged", "03-28 02:30")]
    assert gap["scheduled_time"].unique().to_list() == [datetime(2027, 3, 28, 1, tzinfo=UTC)]
    assert all("merged into the 03:00 run" in note for note in gap["note"])


def test_moved_run_is_the_one_the_expansion_fires():
    frame = _frame(a='{"cron": "30 2 * * *", "timezone": "America/New_York"}')
    start, end = datetime(2027, 3, 13, tzinfo=UTC), datetime(2027, 3, 16, tzinfo=UTC)
    out = dst_effects(frame, start, end)
    assert _rows(out) == [("a", "moved", "03-14 02:30")]
    fired = expand_schedules(frame, start, end).filter("dst_adjusted")["scheduled_time"].to_list()
    assert out["scheduled_time"].to_list() == fired


def test_fall_back_names_the_occurrence_that_fires_and_the_one_that_does_not():
    out = schedule_dst_effects(CronSchedule(cron="30 1 * * *", timezone="America/New_York"), *YEAR)
    assert out.columns == DST_SCHEMA.names()[1:]
    row = out.row(0, named=True)
    assert (row["effect"], row["scheduled_time"], row["other_time"]) == (
        "doubled",
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),
        datetime(2027, 11, 7, 6, 30, tzinfo=UTC),
    )
    assert "first (05:30 UTC) only, not at the second (06:30 UTC)" in row["note"]


def test_hourly_interval_fires_at_both_occurrences_and_loses_nothing():
    schedule = IntervalSchedule(interval=3600, anchor_date=datetime(2027, 1, 1), timezone="Europe/Berlin")
    out = schedule_dst_effects(schedule, *YEAR)
    assert out["effect"].to_list() == ["doubled"]
    assert "runs at both" in out["note"][0]


def test_daily_interval_and_rrule_shift_through_the_gap():
    out = dst_effects(
        _frame(
            d='{"interval": 86400, "anchor_date": "2027-01-01T02:30:00", "timezone": "Europe/Berlin"}',
            r='{"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "timezone": "Europe/Berlin"}',
        ),
        *YEAR,
    )
    moved = out.filter(pl.col("effect") == "moved")
    assert moved["scheduled_time"].to_list() == [datetime(2027, 3, 28, 1, 30, tzinfo=UTC)] * 2
    assert out.filter(pl.col("effect") == "doubled").height == 2


def test_window_and_unreadable_schedules():
    frame = _frame(a='{"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}', b=None, c='{"cron": "nope"}')
    summer = dst_effects(frame, datetime(2027, 5, 1, tzinfo=UTC), datetime(2027, 9, 1, tzinfo=UTC))
    assert summer.is_empty() and summer.schema == DST_SCHEMA
    utc = dst_effects(_frame(u='{"cron": "*/30 * * * *"}'), *YEAR)
    assert utc.is_empty()
