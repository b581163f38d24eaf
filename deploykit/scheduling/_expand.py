"""Vectorised expansion of many schedules over one time window.

``expand_schedules`` gives exactly the dates that each schedule's scalar
``get_dates(n=max_per_schedule, start=start, end=end)`` gives, computed in bulk:

- identical schedule JSON strings are expanded once and joined back to their ids;
- cron: each expression is parsed once into allowed-value sets; candidate local days
  are filtered with bit masks, crossed with the allowed hours and minutes, and turned
  into instants per time zone with ``dt.replace_time_zone``. The few wall times inside
  a DST gap are resolved one by one (first instant after the gap);
- interval: integer arithmetic on ``k``; whole-day intervals localise
  ``anchor wall time + k days`` per time zone, the sub-day part is added in absolute time;
- rrule: the scalar dateutil path, once per distinct schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from deploykit.schemas.schedules import (
    MAX_DATES,
    BaseSchedule,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    parse_schedule,
    wall_to_instant,
)

__all__ = ["OUTPUT_SCHEMA", "expand_schedules"]

OUTPUT_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "scheduled_time": pl.Datetime("us", "UTC"),
        "local_time": pl.Datetime("us"),
        "timezone": pl.String(),
        "dst_adjusted": pl.Boolean(),
    }
)
_DATES_SCHEMA = pl.Schema({"_key": pl.Int64(), **dict(list(OUTPUT_SCHEMA.items())[1:])})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_MARGIN = timedelta(days=2)
_INSTANT = pl.Datetime("us", "UTC")
_WALL = pl.Datetime("us")
_Kind = TypeVar("_Kind", bound=BaseSchedule)


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    n: int

    def contains(self) -> pl.Expr:
        return pl.col("instant").is_between(self.start, self.end)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def expand_schedules(
    frame: pl.DataFrame,
    start: datetime,
    end: datetime,
    max_per_schedule: int = MAX_DATES,
) -> pl.DataFrame:
    """Expand every schedule of ``frame`` into its dates within ``[start, end]``.

    ``frame`` has an ``id`` column and a ``schedule`` column holding a schedule as JSON
    (Prefect's API shape) or null. ``start`` and ``end`` must be timezone-aware. Each id
    gets at most ``max_per_schedule`` (capped at 1000) of its earliest dates -- exactly
    ``get_dates(n=max_per_schedule, start=start, end=end)`` of its schedule.

    Returns columns ``id``, ``scheduled_time`` (UTC), ``local_time`` (naive wall clock
    in the schedule's zone), ``timezone`` and ``dst_adjusted`` (the run was moved by a
    DST gap, or its wall-clock time occurs twice that day), sorted by id and time.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> frame = pl.DataFrame({
    ...     "id": ["a", "b", "c"],
    ...     "schedule": ['{"cron": "30 2 * * *", "timezone": "America/New_York"}',
    ...                  '{"interval": 86400, "anchor_date": "2023-01-01T09:00:00+01:00"}',
    ...                  None],
    ... })
    >>> out = expand_schedules(frame, datetime(2023, 3, 11, tzinfo=timezone.utc),
    ...                        datetime(2023, 3, 13, tzinfo=timezone.utc))
    >>> out.select("id", "local_time", "timezone", "dst_adjusted").rows()
    [('a', datetime.datetime(2023, 3, 11, 2, 30), 'America/New_York', False),
     ('a', datetime.datetime(2023, 3, 12, 3, 0), 'America/New_York', True),
     ('b', datetime.datetime(2023, 3, 11, 8, 0), 'UTC', False),
     ('b', datetime.datetime(2023, 3, 12, 8, 0), 'UTC', False)]
    """
    if max_per_schedule < 0:
        raise ValueError(f"max_per_schedule must be >= 0, got {max_per_schedule}")
    window = _Window(_utc(start, "start"), _utc(end, "end"), min(max_per_schedule, MAX_DATES))
    texts = frame.get_column("schedule").drop_nulls().unique().to_list()
    if window.n == 0 or window.end < window.start or not texts:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    schedules = [parse_schedule(text) for text in texts]
    dates = pl.concat(
        [
            _expand_cron(_of_kind(schedules, CronSchedule), window),
            _expand_interval(_of_kind(schedules, IntervalSchedule), window),
            _expand_rrule(_of_kind(schedules, RRuleSchedule), window),
        ]
    )
    keys = pl.DataFrame({"schedule": texts, "_key": pl.int_range(len(texts), eager=True)})
    ids = frame.select(pl.col("id").cast(pl.String), "schedule").join(keys, on="schedule")
    if ids.get_column("id").is_duplicated().any():
        joined = ids.join(dates, on="_key").sort("id", "scheduled_time")
    else:  # each key's dates are in time order already: sorting the ids is enough
        joined = ids.sort("id").join(dates, on="_key", maintain_order="left_right")
    return joined.select(OUTPUT_SCHEMA.names())


def _of_kind(schedules: list[BaseSchedule | None], kind: type[_Kind]) -> list[tuple[int, _Kind]]:
    return [(key, s) for key, s in enumerate(schedules) if isinstance(s, kind)]


# --------------------------------------------------------------------------- shared steps


def _localize(part: pl.DataFrame, zone: str, gap: Literal["shift", "end"]) -> pl.DataFrame:
    """Add ``instant`` (UTC) and ``moved`` (the wall time fell in a DST gap) from ``wall``."""
    part = part.with_columns(
        instant=pl.col("wall")
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC"),
    ).with_columns(moved=pl.col("instant").is_null())
    if not part.get_column("moved").any():
        return part
    walls = part.filter("moved").get_column("wall").unique().to_list()
    fixes = pl.DataFrame(
        {"wall": walls, "fixed": [wall_to_instant(w, zone, gap=gap) for w in walls]},
        schema={"wall": _WALL, "fixed": _INSTANT},
    )
    return (
        part.join(fixes, on="wall", how="left")
        .with_columns(instant=pl.coalesce("instant", "fixed"))
        .drop("fixed")
    )


def _earliest(part: pl.DataFrame, window: _Window) -> pl.DataFrame:
    """Distinct instants in the window (flags AND-ed), the ``n`` earliest per key."""
    return (
        part.filter(window.contains())
        .group_by("_key", "instant")
        .agg(moved=pl.col("moved").all())
        .sort("_key", "instant")
        .filter(pl.int_range(pl.len()).over("_key") < window.n)
    )


def _finish(part: pl.DataFrame, zone: str) -> pl.DataFrame:
    """Output columns: local wall clock, and the DST flag (moved, or ambiguous wall)."""
    local = pl.col("instant").dt.convert_time_zone(zone).dt.replace_time_zone(None)
    ambiguous = local.dt.replace_time_zone(zone, ambiguous="null", non_existent="null").is_null()
    return part.select(
        "_key",
        scheduled_time="instant",
        local_time=local,
        timezone=pl.lit(zone),
        dst_adjusted=pl.col("moved") | ambiguous,
    )


def _per_zone(frame: pl.DataFrame, step: Callable[[pl.DataFrame, str], pl.DataFrame]) -> pl.DataFrame:
    """Apply ``step`` to the rows of each time zone (Polars takes one zone per call)."""
    partitions = frame.partition_by("timezone", as_dict=True).items()
    parts = [step(part, str(zone)) for (zone,), part in partitions]
    return pl.concat(parts) if parts else pl.DataFrame(schema=_DATES_SCHEMA)


# --------------------------------------------------------------------------- cron


def _mask(values: tuple[int, ...]) -> int:
    return sum(1 << value for value in values)


def _calendar(window: _Window) -> pl.DataFrame:
    """Every local calendar day that may hold a wall time of the window, with bit flags."""
    first = (window.start - _MARGIN).date()
    count = ((window.end + _MARGIN).date() - first).days + 1
    days = [first + timedelta(days=i) for i in range(count)]
    return pl.DataFrame(
        {
            "day": days,
            "day_bit": [1 << d.day for d in days],
            "month_bit": [1 << d.month for d in days],
            "weekday_bit": [1 << (d.isoweekday() % 7) for d in days],
        },
        schema_overrides={"day_bit": pl.Int64, "month_bit": pl.Int64, "weekday_bit": pl.Int64},
    )


def _cron_groups(items: list[tuple[int, CronSchedule]]) -> pl.DataFrame:
    fields = [s.fields for _, s in items]
    return pl.DataFrame(
        {
            "_key": [key for key, _ in items],
            "timezone": [s.zone_name for _, s in items],
            "minutes": [list(f.minutes) for f in fields],
            "hours": [list(f.hours) for f in fields],
            "day_mask": [_mask(f.days) for f in fields],
            "month_mask": [_mask(f.months) for f in fields],
            "weekday_mask": [_mask(f.weekdays) for f in fields],
            "use_or": [f.uses_or(s.day_or) for f, (_, s) in zip(fields, items, strict=True)],
            "per_day": [len(f.hours) * len(f.minutes) for f in fields],
        },
        schema_overrides={"_key": pl.Int64, "day_mask": pl.Int64, "month_mask": pl.Int64},
    )


def _cron_days(groups: pl.DataFrame, window: _Window) -> pl.DataFrame:
    """Matching (key, day) pairs, with the number of candidate times before each day."""
    by_date = (pl.col("day_mask") & pl.col("day_bit")) != 0
    by_weekday = (pl.col("weekday_mask") & pl.col("weekday_bit")) != 0
    day_ok = pl.when("use_or").then(by_date | by_weekday).otherwise(by_date & by_weekday)
    return (
        groups.join(_calendar(window), how="cross")
        .filter(((pl.col("month_mask") & pl.col("month_bit")) != 0) & day_ok)
        .sort("_key", "day")
        .with_columns(before=pl.col("per_day").cum_sum().over("_key") - pl.col("per_day"))
    )


def _cron_dates(days: pl.DataFrame, window: _Window) -> pl.DataFrame:
    walls = (
        days.select("_key", "timezone", "day", "hours", "minutes")
        .explode("hours")
        .explode("minutes")
        .select(
            "_key",
            "timezone",
            wall=pl.col("day").cast(_WALL) + pl.duration(hours=pl.col("hours"), minutes=pl.col("minutes")),
        )
    )
    return _per_zone(walls, lambda part, zone: _finish(_earliest(_localize(part, zone, "end"), window), zone))


def _expand_cron(items: list[tuple[int, CronSchedule]], window: _Window) -> pl.DataFrame:
    """Cron dates. Each key gets a budget of days; keys that were cut short get more."""
    if not items:
        return pl.DataFrame(schema=_DATES_SCHEMA)
    pending = _cron_days(_cron_groups(items), window)
    results = [pl.DataFrame(schema=_DATES_SCHEMA)]
    factor = 1
    while not pending.is_empty():
        budget = pl.col("before") < factor * window.n + 5 * pl.col("per_day")
        dates = _cron_dates(pending.filter(budget), window)
        counts = dict(dates.group_by("_key").len().iter_rows())
        trimmed = set(pending.filter(~budget).get_column("_key").to_list())
        retry = [key for key in trimmed if counts.get(key, 0) < window.n]
        results.append(dates.filter(~pl.col("_key").is_in(retry)))
        pending = pending.filter(pl.col("_key").is_in(retry))
        factor *= 4
    return pl.concat(results)


# --------------------------------------------------------------------------- interval


def _interval_row(key: int, schedule: IntervalSchedule, window: _Window) -> dict[str, object]:
    """The ``k`` range of one interval schedule, wide enough for DST drift."""
    anchor = schedule.anchor_date.astimezone(UTC)
    wall = schedule.anchor_date.astimezone(ZoneInfo(schedule.zone_name)).replace(tzinfo=UTC)
    days = schedule.interval.days
    total = schedule.interval // _US
    since_start = (window.start - anchor) // _US
    until_end = (window.end - anchor) // _US
    if days == 0:
        low = -(-since_start // total)
        high = min(until_end // total, low + window.n - 1)
    else:
        low = since_start // total - 3
        high = min(until_end // total + 3, low + window.n + 10)
    return {
        "_key": key,
        "timezone": schedule.zone_name,
        "anchor": (anchor - _EPOCH) // _US,
        "anchor_wall": (wall - _EPOCH) // _US,
        "days": days,
        "rest": (schedule.interval - timedelta(days=days)) // _US,
        "low": low,
        "high": high,
    }


def _interval_dates(part: pl.DataFrame, zone: str, window: _Window) -> pl.DataFrame:
    k = pl.col("k")
    by_days = pl.col("days") > 0
    anchor = pl.col("anchor").cast(_INSTANT)
    walls = part.filter(by_days).with_columns(
        wall=(pl.col("anchor_wall") + k * pl.col("days") * _DAY_US).cast(_WALL)
    )
    local = _localize(walls, zone, "shift").with_columns(
        instant=pl.when(k == 0).then(anchor).otherwise("instant"),
        moved=pl.col("moved") & (k != 0),
    )
    absolute = part.filter(~by_days).with_columns(instant=anchor, moved=pl.lit(False))
    shifted = pl.concat([local.drop("wall"), absolute]).with_columns(
        instant=pl.col("instant") + pl.duration(microseconds=k * pl.col("rest"))
    )
    return _finish(_earliest(shifted, window), zone)


def _expand_interval(items: list[tuple[int, IntervalSchedule]], window: _Window) -> pl.DataFrame:
    """Interval dates: the ``k`` range of each key, then one row per ``k``."""
    if not items:
        return pl.DataFrame(schema=_DATES_SCHEMA)
    steps = (
        pl.DataFrame([_interval_row(key, s, window) for key, s in items])
        .filter(pl.col("high") >= pl.col("low"))
        .with_columns(k=pl.int_ranges("low", pl.col("high") + 1))
        .explode("k")
    )
    return _per_zone(steps, lambda part, zone: _interval_dates(part, zone, window))


# --------------------------------------------------------------------------- rrule


def _expand_rrule(items: list[tuple[int, RRuleSchedule]], window: _Window) -> pl.DataFrame:
    """RRule dates through the scalar dateutil path, once per distinct schedule."""
    rows = [
        (
            key,
            run.when.astimezone(UTC),
            run.when.replace(tzinfo=None),
            s.zone_name,
            run.dst_adjusted,
        )
        for key, s in items
        for run in s.occurrences(window.n, window.start, window.end)
    ]
    return pl.DataFrame(rows, schema=_DATES_SCHEMA, orient="row")
