"""Where DST changes a schedule's runs: moved, merged and doubled wall times, in bulk.

A schedule names wall times (cron fields, an rrule, an anchor's wall time plus whole
days); the expansion reads them in the schedule's zone, where a DST change bends them:

- **moved**: the wall time is inside a spring-forward gap, so the run fires later than
  its wall time (a cron at the first instant after the gap, an rrule or daily interval
  shifted by the gap's length);
- **merged**: a wall time inside the gap lands on the same instant as another wall time
  of the schedule, so it gets no run of its own (``*/30`` in Europe/Berlin on
  2027-03-28: 02:00 and 02:30 merge into the 03:00 run);
- **doubled**: the wall time shows twice (fall back); the schedule fires at the first
  occurrence only, and the second gets no run. Intervals under a day count absolute
  time instead, so they fire at both occurrences of a repeated wall time (and lose
  nothing to a gap); such rows say so.

How: each zone's offset changes in the window come from one :class:`ZoneTable`; for
each distinct change's wall-time range, every schedule of the zones changing there is
expanded once as if its zone were UTC (which lists its wall times), and those wall times
are read back in the zone with the same conversions the expansion uses. Intervals
mixing whole days with a sub-day rest are not analysed (their wall times drift).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from deploykit._collect import POLARS_ENGINE
from deploykit.calendar import LOOKBACK, MAX_DATES, ZoneTable, require_aware, shifted, zone
from deploykit.scheduling._expand import expand_checked
from deploykit.schemas.schedules import (
    BaseSchedule,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    cached_schedule,
)

__all__ = ["DST_SCHEMA", "dst_effects", "schedule_dst_effects"]

DST_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "timezone": pl.String(),
        "effect": pl.String(),
        "wall_time": pl.Datetime("us"),
        "scheduled_time": pl.Datetime("us", "UTC"),
        "other_time": pl.Datetime("us", "UTC"),
        "note": pl.String(),
    }
)
"""``effect`` is ``moved``, ``merged`` or ``doubled``; ``wall_time`` is the wall time the
schedule names; ``scheduled_time`` the run that covers it (UTC); ``other_time`` the second
occurrence of a doubled wall time (which fires only where ``note`` says so)."""

_FOUND = pl.Schema({"_key": pl.Int64(), **{k: v for k, v in DST_SCHEMA.items() if k != "id"}})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_WALLS = pl.Schema({"_key": pl.Int64(), "timezone": pl.String(), "wall": pl.Int64()})


def schedule_dst_effects(schedule: BaseSchedule, start: datetime, end: datetime) -> pl.DataFrame:
    """:func:`dst_effects` of one schedule (its ``id`` column is dropped).

    Examples
    --------
    >>> from deploykit.schemas.schedules import CronSchedule
    >>> s = CronSchedule(cron="*/30 * * * *", timezone="Europe/Berlin")
    >>> fx = schedule_dst_effects(s, datetime(2027, 3, 28, tzinfo=UTC), datetime(2027, 3, 29, tzinfo=UTC))
    >>> fx.select("effect", pl.col("wall_time").dt.strftime("%H:%M")).rows()
    [('merged', '02:00'), ('merged', '02:30')]
    """
    frame = pl.DataFrame({"id": ["schedule"], "schedule": [json.dumps(schedule.model_dump(mode="json"))]})
    return dst_effects(frame, start, end).drop("id")


def dst_effects(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Every run that a DST change moves, merges or doubles in ``[start, end]``.

    ``frame`` has ``id`` and ``schedule`` (JSON, Prefect's shape, or null) columns, as
    for :func:`expand_schedules`; schedules that cannot be read are left out. Returns
    :data:`DST_SCHEMA`, one row per affected wall time, sorted by id and wall time.

    Examples
    --------
    >>> frame = pl.DataFrame({"id": ["a", "b"], "schedule": [
    ...     '{"cron": "30 2 * * *", "timezone": "America/New_York"}',
    ...     '{"cron": "30 1 * * *", "timezone": "America/New_York"}']})
    >>> fx = dst_effects(frame, datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 12, 1, tzinfo=UTC))
    >>> fx.select("id", "effect", pl.col("scheduled_time").dt.strftime("%m-%d %H:%M"),
    ...           pl.col("other_time").dt.strftime("%H:%M")).rows()
    [('a', 'moved', '03-12 07:00', None), ('b', 'doubled', '11-05 05:30', '06:30')]
    """
    start = require_aware(start, "start").astimezone(UTC)
    end = require_aware(end, "end").astimezone(UTC)
    texts = frame.get_column("schedule").drop_nulls().unique().sort().to_list()
    schedules = [_readable(text) for text in texts]
    keyed = [(key, s) for key, s in enumerate(schedules) if s is not None]
    if not keyed or end < start:
        return pl.DataFrame(schema=DST_SCHEMA)
    zones = ZoneTable([s.zone_name for _, s in keyed], shifted(start, -LOOKBACK), shifted(end, LOOKBACK))
    changes = (
        zones.changes()
        .filter(pl.col("at").is_between(_us(shifted(start, -LOOKBACK)), _us(shifted(end, LOOKBACK))))
        .collect(engine=POLARS_ENGINE)
    )
    walls = _walls(keyed, changes)
    found = pl.concat(
        [_wall_effects(walls, keyed, zones), _interval_doubles(keyed, changes, zones).cast(_FOUND)]
    )
    found = found.filter(pl.col("scheduled_time").is_between(start, end))
    ids = frame.select(pl.col("id").cast(pl.String), pl.col("schedule").cast(pl.String)).join(
        pl.DataFrame(
            {"schedule": texts, "_key": range(len(texts))}, schema={"schedule": pl.String, "_key": pl.Int64}
        ),
        on="schedule",
    )
    return (
        ids.join(found, on="_key")
        .select(DST_SCHEMA.names())
        .unique()
        .sort("id", "wall_time", "scheduled_time")
        .cast(DST_SCHEMA)  # type: ignore[arg-type]
    )


def _readable(text: str) -> BaseSchedule | None:
    try:
        return cached_schedule(text)
    except ValueError:
        return None


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _US


def _as_walls(schedule: BaseSchedule) -> str | None:
    """The schedule read in UTC, so that its dates are its wall times (None: not wall-based)."""
    if isinstance(schedule, CronSchedule | RRuleSchedule):
        return json.dumps(schedule.model_copy(update={"timezone": "UTC"}).model_dump(mode="json"))
    assert isinstance(schedule, IntervalSchedule)
    if schedule.interval < timedelta(days=1) or schedule.interval % timedelta(days=1):
        return None
    wall = schedule.anchor_date.astimezone(zone(schedule.zone_name)).replace(tzinfo=UTC)
    anchor = {
        "interval": schedule.interval.total_seconds(),
        "anchor_date": wall.isoformat(),
        "timezone": "UTC",
    }
    return json.dumps(anchor)


def _walls(keyed: list[tuple[int, BaseSchedule]], changes: pl.DataFrame) -> pl.DataFrame:
    """The wall times each wall-based schedule names around each change of its zone.

    A gap's range reaches one gap length past it: the walls that gap walls may merge into.
    """
    as_walls = {key: text for key, s in keyed if (text := _as_walls(s)) is not None}
    by_zone: dict[str, list[int]] = {}
    for key, s in keyed:
        if key in as_walls:
            by_zone.setdefault(s.zone_name, []).append(key)
    ranges = changes.filter(pl.col("timezone").is_in(list(by_zone))).with_columns(
        high=pl.when("gap").then(pl.col("wall_to") * 2 - pl.col("wall_from")).otherwise(pl.col("wall_to") - 1)
    )
    parts = []
    for (low, high), group in ranges.group_by("wall_from", "high", maintain_order=True):
        keys = [key for zone_name in group["timezone"].unique() for key in by_zone[zone_name]]
        texts = [as_walls[key] for key in keys]
        dates = expand_checked(texts, _EPOCH + low * _US, _EPOCH + high * _US, MAX_DATES).dates
        parts.append(
            dates.join(pl.DataFrame({"_key": range(len(keys)), "key": keys}), on="_key").select(
                _key="key", wall=pl.col("scheduled_time").dt.epoch("us")
            )
        )
    zone_of = pl.DataFrame(
        {"_key": [k for k, _ in keyed], "timezone": [s.zone_name for _, s in keyed]},
        schema={"_key": pl.Int64, "timezone": pl.String},
    )
    if not parts:
        return pl.DataFrame(schema=_WALLS)
    return pl.concat(parts).unique().join(zone_of, on="_key").select(_WALLS.names())


def _hm(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%H:%M")


def _wall_effects(
    walls: pl.DataFrame, keyed: list[tuple[int, BaseSchedule]], zones: ZoneTable
) -> pl.DataFrame:
    """Moved, merged and (once-firing) doubled rows of wall-based schedules."""
    crons = [key for key, s in keyed if isinstance(s, CronSchedule)]
    changes = zones.changes().sort("wall_from")
    read = zones.wall_to_instant(
        walls.lazy().with_columns(_end=pl.col("_key").is_in(crons)), gap=pl.col("_end")
    )
    read = zones.local(read).join_asof(
        changes,
        left_on="wall",
        right_on="wall_from",
        by="timezone",
        strategy="backward",
        check_sortedness=False,
    )
    resolved = read.with_columns(
        repeated=(pl.col("wall") < pl.col("wall_to")) & ~pl.col("gap"),
        other=pl.col("instant") + pl.col("before") - pl.col("after"),
    ).collect(engine=POLARS_ENGINE)
    resolved = resolved.with_columns(
        pl.col("wall", "local").cast(pl.Datetime("us")),
        pl.col("instant", "other").cast(pl.Datetime("us", "UTC")),
    )
    on_time = resolved.filter(~pl.col("moved")).select("_key", "instant", into="wall")
    moved = (
        resolved.filter("moved")
        .join(on_time, on=["_key", "instant"], how="left")
        .with_columns(first=pl.col("wall") == pl.col("wall").min().over("_key", "instant"))
        .with_columns(
            effect=pl.when(pl.col("into").is_null() & pl.col("first"))
            .then(pl.lit("moved"))
            .otherwise(pl.lit("merged"))
        )
    )
    day = pl.col("wall").dt.strftime("%Y-%m-%d")
    gap_note = pl.format("{} {} does not exist (clocks spring forward): ", _hm("wall"), day)
    moved = moved.select(
        "_key",
        "timezone",
        "effect",
        wall_time="wall",
        scheduled_time="instant",
        other_time=pl.lit(None, pl.Datetime("us", "UTC")),
        note=pl.when(pl.col("effect") == "moved")
        .then(pl.format("{}runs at {} instead", gap_note, _hm("local")))
        .otherwise(pl.format("{}no run of its own, merged into the {} run", gap_note, _hm("local"))),
    )
    doubled = resolved.filter("repeated").select(
        "_key",
        "timezone",
        **_doubled("wall", "instant", "other", "runs at the first ({} UTC) only, not at the second ({} UTC)"),
    )
    return pl.concat([moved, doubled]).cast(_FOUND)  # type: ignore[arg-type]


def _interval_doubles(
    keyed: list[tuple[int, BaseSchedule]], changes: pl.DataFrame, zones: ZoneTable
) -> pl.DataFrame:
    """Intervals under a day fire in absolute time: repeated wall times that get two runs."""
    short = [(k, s) for k, s in keyed if isinstance(s, IntervalSchedule) and s.interval < timedelta(days=1)]
    zone_names = {s.zone_name for _, s in short}
    backs = changes.filter(~pl.col("gap") & pl.col("timezone").is_in(list(zone_names)))
    parts = []
    for (at, diff), group in backs.group_by("at", pl.col("before") - pl.col("after"), maintain_order=True):
        keys = [k for k, s in short if s.zone_name in set(group["timezone"])]
        texts = [json.dumps(s.model_dump(mode="json")) for k, s in short if k in keys]
        low, high = _EPOCH + (at - diff) * _US, _EPOCH + (at + diff - 1) * _US
        dates = expand_checked(texts, low, high, MAX_DATES).dates
        parts.append(dates.join(pl.DataFrame({"_key": range(len(keys)), "key": keys}), on="_key"))
    if not parts:
        return pl.DataFrame(schema=_FOUND)
    twice = (
        pl.concat(parts)
        .group_by("key", "timezone", "local_time")
        .agg(
            pl.col("scheduled_time").min().alias("first"),
            pl.col("scheduled_time").max().alias("second"),
            n=pl.len(),
        )
        .filter(pl.col("n") == 2)
    )
    return twice.select(
        _key="key",
        timezone="timezone",
        **_doubled("local_time", "first", "second", _BOTH_RUN),
    )


_BOTH_RUN = "runs at both ({} and {} UTC), as the interval counts real time"


def _doubled(wall: str, first: str, second: str, outcome: str) -> dict[str, pl.Expr]:
    """The columns of a ``doubled`` row: the wall time in column ``wall`` occurs twice, at the
    instants in ``first`` and ``second``; ``outcome`` ends the note, its two ``{}`` those instants."""
    return {
        "effect": pl.lit("doubled"),
        "wall_time": pl.col(wall),
        "scheduled_time": pl.col(first),
        "other_time": pl.col(second),
        "note": pl.format(
            "{} {} occurs twice (clocks fall back): " + outcome,
            _hm(wall),
            pl.col(wall).dt.strftime("%Y-%m-%d"),
            _hm(first),
            _hm(second),
        ),
    }
