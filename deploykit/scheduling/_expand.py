"""Vectorised expansion of many schedules over one time window.

``expand_schedules`` gives exactly the dates that each schedule's scalar
``get_dates(n=max_per_schedule, start=start, end=end)`` gives, computed in bulk:

- identical schedule JSON strings are expanded once and joined back to their ids;
- cron: each expression is parsed once into allowed-value sets; candidate local days
  are filtered with bit masks and crossed with the allowed hours and minutes;
- interval: integer arithmetic on ``k``; whole-day intervals step the anchor's wall
  time by ``k`` days, the sub-day part is added in absolute time;
- rrule: a rule that fires like a cron (e.g. ``FREQ=WEEKLY;BYDAY=MO;BYHOUR=7``) is
  expanded as one; dateutil lists the wall times of the others, once per distinct rule;
- wall times of every zone become instants (and instants wall times) through one
  ``join_asof`` against the zones' offset changes (``deploykit.calendar.ZoneTable``), so the whole
  expansion is one lazy query, collected once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from deploykit._collect import POLARS_ENGINE
from deploykit._time_units import DAY_US, EPOCH
from deploykit.calendar import (
    LOOKBACK,
    MAX_DATES,
    BudgetExceeded,
    CronFields,
    ZoneTable,
    check_year,
    is_gap,
    require_aware,
    rule_cron_fields,
    rule_walls_after,
    shifted,
)
from deploykit.schemas.schedules import (
    BaseSchedule,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    cached_schedule,
)

__all__ = ["OUTPUT_SCHEMA", "Expansion", "expand_checked", "expand_distinct", "expand_schedules", "with_ids"]

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
_CANDIDATES_SCHEMA = pl.Schema({"_key": pl.Int64(), "timezone": pl.String(), "wall": pl.Int64()})
_NAIVE_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
_Kind = TypeVar("_Kind", bound=BaseSchedule)


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    n: int

    @property
    def bounds_us(self) -> tuple[int, int]:
        return (self.start - EPOCH) // _US, (self.end - EPOCH) // _US


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
    texts = frame.get_column("schedule").drop_nulls().unique().to_list()
    dates = expand_distinct(texts, start, end, max_per_schedule)
    return with_ids(frame, texts, dates.lazy()).select(OUTPUT_SCHEMA.names()).collect(engine=POLARS_ENGINE)


def expand_distinct(texts: list[str], start: datetime, end: datetime, max_per_schedule: int) -> pl.DataFrame:
    """The dates of each distinct schedule JSON text, as :func:`expand_schedules` gives them.

    Returns ``_key`` (the text's position in ``texts``) and the columns of
    ``OUTPUT_SCHEMA`` but ``id``, sorted by key and time. A schedule that cannot be
    expanded raises its error (see :func:`expand_checked` to skip it instead).
    """
    expansion = expand_checked(texts, start, end, max_per_schedule)
    for error in expansion.failed.values():
        raise error
    return expansion.dates


class Expansion(NamedTuple):
    """The dates of the schedules that could be expanded, and why the others could not."""

    dates: pl.DataFrame
    """As :func:`expand_distinct` returns them."""
    failed: dict[int, ValueError]
    """Key (position in ``texts``) -> the error: invalid schedule JSON or model (a
    pydantic ``ValidationError``), or a rule that needs more candidates than the limit
    (``deploykit.calendar.BudgetExceeded``). Each message names the schedule."""


def expand_checked(texts: list[str], start: datetime, end: datetime, max_per_schedule: int) -> Expansion:
    """:func:`expand_distinct`, isolating each schedule: one that cannot be expanded is
    left out of the dates and reported in ``failed``, the others are expanded.

    Fleet operations use it to skip a broken deployment and name it, instead of failing
    (or hanging) for every deployment. Bad arguments (a naive or out-of-range window,
    a negative ``max_per_schedule``) still raise ``ValueError``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> texts = ['{"cron": "0 9 * * *"}', '{"cron": "0 9 30 2 *"}']
    >>> out = expand_checked(texts, datetime(2023, 1, 1, tzinfo=timezone.utc),
    ...                      datetime(2023, 1, 2, 12, tzinfo=timezone.utc), 10)
    >>> out.dates.get_column("_key").to_list(), list(out.failed)
    ([0, 0], [1])
    """
    if max_per_schedule < 0:
        raise ValueError(f"max_per_schedule must be >= 0, got {max_per_schedule}")
    window = _Window(
        check_year(require_aware(start, "start"), "start").astimezone(UTC),
        check_year(require_aware(end, "end"), "end").astimezone(UTC),
        min(max_per_schedule, MAX_DATES),
    )
    if window.n == 0 or window.end < window.start or not texts:
        return Expansion(pl.DataFrame(schema=_DATES_SCHEMA), {})
    failed: dict[int, ValueError] = {}
    schedules: list[BaseSchedule | None] = []
    for key, text in enumerate(texts):
        try:
            schedules.append(cached_schedule(text))
        except ValueError as exc:  # pydantic's ValidationError included
            failed[key] = exc
            schedules.append(None)
    zones = ZoneTable(
        [s.zone_name for s in schedules if s is not None],
        shifted(window.start, -LOOKBACK),
        shifted(window.end, LOOKBACK),
    )
    crons, rules = _cron_like(_of_kind(schedules, CronSchedule), _of_kind(schedules, RRuleSchedule), window)
    rule_walls = []
    for key, schedule in rules:
        try:
            rule_walls.extend((key, schedule.zone_name, wall) for wall in _rrule_walls(schedule, window))
        except BudgetExceeded as exc:
            failed[key] = exc
    cron = _CronExpansion(crons, window, zones)
    first_pass, cut_short, intervals, rrules = pl.collect_all(
        [
            cron.dates(factor=1),
            cron.cut_short(factor=1),
            _expand_interval(_of_kind(schedules, IntervalSchedule), window, zones),
            _expand_rrule(rule_walls, window, zones),
        ],
        engine=POLARS_ENGINE,
    )
    return Expansion(pl.concat([cron.complete(first_pass, cut_short), intervals, rrules]), failed)


def with_ids(frame: pl.DataFrame, texts: list[str], dates: pl.LazyFrame) -> pl.LazyFrame:
    """Join the dates of :func:`expand_distinct` back to the ``id`` of each row of ``frame``.

    The result has ``id`` and the columns of ``dates`` (``_key`` too), sorted by id and time.
    """
    keys = pl.LazyFrame(
        {"schedule": texts, "_key": range(len(texts))}, schema={"schedule": pl.String, "_key": pl.Int64}
    )
    ids = frame.lazy().select(pl.col("id").cast(pl.String), pl.col("schedule").cast(pl.String))
    ids = ids.join(keys, on="schedule")
    if frame.get_column("id").is_duplicated().any():
        return ids.join(dates, on="_key").sort("id", "scheduled_time").drop("schedule")
    # each key's dates are in time order already: sorting the ids is enough
    return ids.sort("id").join(dates, on="_key", maintain_order="left_right").drop("schedule")


def _of_kind(schedules: list[BaseSchedule | None], kind: type[_Kind]) -> list[tuple[int, _Kind]]:
    return [(key, s) for key, s in enumerate(schedules) if isinstance(s, kind)]


# --------------------------------------------------------------------------- shared steps


def _earliest(candidates: pl.LazyFrame, window: _Window) -> pl.LazyFrame:
    """Distinct instants in the window (``moved`` flags AND-ed), the ``n`` earliest per key."""
    low, high = window.bounds_us
    return (
        candidates.filter(pl.col("instant").is_between(low, high))
        .group_by("_key", "timezone", "instant")
        .agg(moved=pl.col("moved").all())
        .sort("_key", "instant")
        .filter(pl.int_range(pl.len()).over("_key") < window.n)
    )


def _finish(dates: pl.LazyFrame, zones: ZoneTable) -> pl.LazyFrame:
    """Output columns: the local wall clock, and the DST flag (moved, or ambiguous wall time)."""
    return (
        zones.local(dates)
        .select(
            "_key",
            scheduled_time=pl.col("instant").cast(pl.Datetime("us", "UTC")),
            local_time=pl.col("local").cast(pl.Datetime("us")),
            timezone="timezone",
            dst_adjusted=pl.col("moved") | pl.col("ambiguous"),
        )
        .sort("_key", "scheduled_time")
    )


def _dates(candidates: pl.LazyFrame, window: _Window, zones: ZoneTable) -> pl.LazyFrame:
    return _finish(_earliest(candidates, window), zones)


# --------------------------------------------------------------------------- cron


@lru_cache(maxsize=4096)
def _mask(values: tuple[int, ...]) -> int:
    return sum(1 << value for value in values)


def _calendar(window: _Window) -> pl.DataFrame:
    """Every local calendar day that may hold a wall time of the window, with bit flags."""
    first = shifted(window.start, -LOOKBACK).date()
    return _days_from(first, (shifted(window.end, LOOKBACK).date() - first).days + 1)


@lru_cache(maxsize=64)
def _days_from(first: date, count: int) -> pl.DataFrame:
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


@dataclass(frozen=True)
class _CronLike:
    """A schedule expanded through cron fields: a cron, or an rrule that fires like one."""

    key: int
    zone: str
    fields: CronFields
    use_or: bool
    gap_end: bool
    """A wall time in a DST gap becomes the first instant after it (cron), else shifts (rrule)."""


def _cron_like(
    crons: list[tuple[int, CronSchedule]], rules: list[tuple[int, RRuleSchedule]], window: _Window
) -> tuple[list[_CronLike], list[tuple[int, RRuleSchedule]]]:
    """Crons, plus the rules that fire like crons over the whole window; and the other rules."""
    like = [_CronLike(key, s.zone_name, s.fields, s.fields.uses_or(s.day_or), True) for key, s in crons]
    first_day = datetime.combine(shifted(window.start, -LOOKBACK).date(), time())
    others = []
    for key, s in rules:
        as_cron = rule_cron_fields(s.rrule)
        if as_cron is not None and as_cron[1] <= first_day:
            like.append(_CronLike(key, s.zone_name, as_cron[0], False, False))
        else:
            others.append((key, s))
    return like, others


_CRON_GROUPS_SCHEMA = pl.Schema(
    {
        "_key": pl.Int64(),
        "timezone": pl.String(),
        "day_mask": pl.Int64(),
        "month_mask": pl.Int64(),
        "weekday_mask": pl.Int64(),
        "use_or": pl.Boolean(),
        "per_day": pl.Int64(),
        "gap_end": pl.Boolean(),
    }
)


def _cron_groups(items: list[_CronLike]) -> pl.DataFrame:
    """One row per schedule: its day filters as bit masks, and its number of times per day."""
    rows = [
        (
            c.key,
            c.zone,
            _mask(c.fields.days),
            _mask(c.fields.months),
            _mask(c.fields.weekdays),
            c.use_or,
            len(c.fields.hours) * len(c.fields.minutes),
            c.gap_end,
        )
        for c in items
    ]
    return pl.DataFrame(rows, schema=_CRON_GROUPS_SCHEMA, orient="row")


def _cron_times(items: list[_CronLike]) -> pl.DataFrame:
    """One row per schedule and time of day it fires at (in minutes since midnight)."""
    keys, minutes = [], []
    for c in items:
        times = [hour * 60 + minute for hour in c.fields.hours for minute in c.fields.minutes]
        keys.extend([c.key] * len(times))
        minutes.extend(times)
    return pl.DataFrame(
        {"_key": keys, "minute_of_day": minutes}, schema={"_key": pl.Int64, "minute_of_day": pl.Int64}
    )


class _CronExpansion:
    """Cron dates. Each key gets a budget of matching days; keys cut short get more."""

    def __init__(self, items: list[_CronLike], window: _Window, zones: ZoneTable) -> None:
        self._window = window
        self._zones = zones
        self._times = _cron_times(items).lazy()
        by_date = (pl.col("day_mask") & pl.col("day_bit")) != 0
        by_weekday = (pl.col("weekday_mask") & pl.col("weekday_bit")) != 0
        day_ok = pl.when("use_or").then(by_date | by_weekday).otherwise(by_date & by_weekday)
        self._days = (
            _cron_groups(items)
            .lazy()
            .join(_calendar(window).lazy(), how="cross")
            .filter(((pl.col("month_mask") & pl.col("month_bit")) != 0) & day_ok)
            .sort("_key", "day")
            .with_columns(before=pl.col("per_day").cum_sum().over("_key") - pl.col("per_day"))
        )

    def _budget(self, factor: int) -> pl.Expr:
        return pl.col("before") < factor * self._window.n + 5 * pl.col("per_day")

    def _days_of(self, factor: int, keys: list[int] | None, within: bool) -> pl.LazyFrame:
        """The matching days within (or beyond) the budget, of ``keys`` only when given."""
        budget = self._budget(factor)
        days = self._days.filter(budget if within else ~budget)
        return days if keys is None else days.filter(pl.col("_key").is_in(keys))

    def dates(self, factor: int, keys: list[int] | None = None) -> pl.LazyFrame:
        """The dates of the days within budget (of ``keys`` only, when given)."""
        walls = (
            self._days_of(factor, keys, within=True)
            .join(self._times, on="_key")
            .select(
                "_key",
                "timezone",
                "gap_end",
                wall=pl.col("day").cast(pl.Int64) * DAY_US + pl.col("minute_of_day") * _MINUTE_US,
            )
        )
        return _dates(self._zones.wall_to_instant(walls, gap=pl.col("gap_end")), self._window, self._zones)

    def cut_short(self, factor: int, keys: list[int] | None = None) -> pl.LazyFrame:
        """The keys that have matching days beyond the budget."""
        return self._days_of(factor, keys, within=False).select("_key").unique()

    def complete(self, dates: pl.DataFrame, cut_short: pl.DataFrame) -> pl.DataFrame:
        """``dates`` of the first pass, with the keys that came up short expanded again."""
        results = []
        factor = 1
        while True:
            if cut_short.is_empty():
                return pl.concat([*results, dates])
            counts = dates.group_by("_key").len()
            short = cut_short.join(counts, on="_key", how="left").filter(
                pl.col("len").fill_null(0) < self._window.n
            )
            retry = short.get_column("_key").to_list()
            if not retry:
                return pl.concat([*results, dates])
            results.append(dates.filter(~pl.col("_key").is_in(retry)))
            factor *= 4
            dates, cut_short = pl.collect_all(
                [self.dates(factor, retry), self.cut_short(factor, retry)], engine=POLARS_ENGINE
            )


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
        "anchor": (anchor - EPOCH) // _US,
        "anchor_wall": (wall - EPOCH) // _US,
        "days": days,
        "rest": (schedule.interval - timedelta(days=days)) // _US,
        "low": low,
        "high": high,
    }


def _step_zones(rows: list[dict[str, Any]], window_zones: ZoneTable) -> ZoneTable:
    """Offset changes over every year an ``anchor wall + k days`` step can fall in.

    With a sub-day rest, that wall lies far from the window (``k * rest`` earlier or
    later), beyond the years the window's own table covers. Intervals of under a day
    take no such steps and do not widen the table.
    """
    walls = [
        row["anchor_wall"] + row[end] * row["days"] * DAY_US
        for row in rows
        if row["days"]
        for end in ("low", "high")
    ]
    if not walls:
        return window_zones
    first = shifted(EPOCH, min(walls) * _US - LOOKBACK)
    last = shifted(EPOCH, max(walls) * _US + LOOKBACK)
    return ZoneTable([row["timezone"] for row in rows], first, last)


def _expand_interval(
    items: list[tuple[int, IntervalSchedule]], window: _Window, zones: ZoneTable
) -> pl.LazyFrame:
    """Interval dates: the ``k`` range of each key, then one row per ``k``.

    Whole-day steps read ``anchor wall time + k days`` in the zone (a DST gap shifts it
    forward); ``k = 0`` is the anchor itself; the sub-day rest is added in absolute time.
    """
    if not items:
        return pl.LazyFrame(schema=_DATES_SCHEMA)
    rows = [_interval_row(key, s, window) for key, s in items]
    k = pl.col("k")
    stepped = (pl.col("days") > 0) & (k != 0)
    steps = (
        pl.LazyFrame(rows)
        .filter(pl.col("high") >= pl.col("low"))
        .with_columns(k=pl.int_ranges("low", pl.col("high") + 1))
        .explode("k")
        .with_columns(wall=pl.col("anchor_wall") + k * pl.col("days") * DAY_US)
    )
    candidates = (
        _step_zones(rows, zones)
        .wall_to_instant(steps, gap="shift")
        .select(
            "_key",
            "timezone",
            instant=pl.when(stepped).then("instant").otherwise("anchor") + k * pl.col("rest"),
            moved=pl.col("moved") & stepped,
        )
    )
    return _dates(candidates, window, zones)


# --------------------------------------------------------------------------- rrule


def _rrule_walls(schedule: RRuleSchedule, window: _Window) -> list[int]:
    """Wall times (microseconds) of the rule that may be among its ``n`` earliest dates in the window.

    Walls are listed from 2 days before the window's start (no wall earlier can land in
    it) until 2 days past its end, or 2 days past the ``n``-th wall that surely lands
    after the start and outside a DST gap (distinct such walls are distinct instants; a
    wall 2 days later lands after all of them).
    """
    zone = ZoneInfo(schedule.zone_name)
    first = shifted(window.start, -LOOKBACK).astimezone(zone).replace(tzinfo=None)
    sure = shifted(window.start, LOOKBACK).astimezone(zone).replace(tzinfo=None)
    last = shifted(window.end, LOOKBACK).astimezone(zone).replace(tzinfo=None)
    walls: list[int] = []
    count = 0
    for wall in rule_walls_after(schedule.rrule, first, last):
        if wall > last:
            break
        walls.append((wall - _NAIVE_EPOCH) // _US)
        if wall >= sure and not is_gap(wall, zone):
            count += 1
            if count == window.n:
                last = min(last, shifted(wall, LOOKBACK))
    return walls


def _expand_rrule(rows: list[tuple[int, str, int]], window: _Window, zones: ZoneTable) -> pl.LazyFrame:
    """RRule dates from ``(key, zone, wall)`` rows of :func:`_rrule_walls`, read in the zone (gaps shift)."""
    walls = pl.LazyFrame(rows, schema=_CANDIDATES_SCHEMA, orient="row")
    return _dates(zones.wall_to_instant(walls, gap="shift"), window, zones)
