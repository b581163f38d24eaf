"""Time-zone arithmetic for many rows at once, as joins against a table of UTC offset changes.

Polars converts time zones one constant zone per expression, so a fleet spread over
many zones would need one pass per zone. Instead, each zone's offset changes in the
window are read once from ``zoneinfo`` (the same data the scalar schedules use) and
cached per zone and year; wall times and instants of every zone are then converted
by one ``join_asof`` each, inside a single lazy query.

A wall time ``w`` is read with ``fold=0``, as ``datetime.replace(tzinfo=zone)`` reads it:
an ambiguous wall time means its first occurrence, and one inside a DST gap uses the
offset from before the gap (it moves forward by the gap's length). Around a change at
``at`` from offset ``before`` to ``after``, the wall times in
``[at + min(before, after), at + max(before, after))`` are the gap (``after > before``)
or the repeated hour (``after < before``); later wall times use ``after``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl

__all__ = ["ZoneTable"]

_US = timedelta(microseconds=1)
_SECOND = 1_000_000
_PROBE_SECONDS = 86_400
"""Offsets are probed daily, then each change is bisected to the second. No zone changes
its offset twice within a day: checked for every tzdb zone from 1900 to 2100 against
6-hourly probes (same changes found)."""
_FIRST_YEAR, _LAST_YEAR = 2, 9998
"""Years ``datetime.fromtimestamp`` can probe with a day to spare on either side."""
_NEVER = -(2**62)
"""Sort key of each zone's first row: the offset in force before any listed change."""

_OFFSETS_SCHEMA = pl.Schema({"timezone": pl.String(), "at": pl.Int64(), "offset": pl.Int64()})
_WALLS_SCHEMA = pl.Schema(
    {
        "timezone": pl.String(),
        "special_from": pl.Int64(),
        "special_to": pl.Int64(),
        "before": pl.Int64(),
        "after": pl.Int64(),
        "at": pl.Int64(),
        "gap": pl.Boolean(),
    }
)
_WALL_COLUMNS = _WALLS_SCHEMA.names()[1:]
"""The columns a join against the wall-time table adds (dropped again after use)."""


def _offset(zone: ZoneInfo, seconds: int) -> int:
    """UTC offset in microseconds of the zone at a POSIX timestamp."""
    offset = datetime.fromtimestamp(seconds, zone).utcoffset()
    assert offset is not None
    return offset // _US


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


@lru_cache(maxsize=4096)
def _changes_in_year(name: str, year: int) -> tuple[tuple[int, int, int], ...]:
    """``(at, before, after)`` in microseconds for each offset change in ``(Jan 1, next Jan 1]`` UTC."""
    zone = ZoneInfo(name)
    low, high = _year_start(year), _year_start(year + 1)
    changes = []
    previous = _offset(zone, low)
    for probe in range(low + _PROBE_SECONDS, high + _PROBE_SECONDS, _PROBE_SECONDS):
        probe = min(probe, high)
        current = _offset(zone, probe)
        if current != previous:
            left, right = probe - _PROBE_SECONDS, probe
            while right - left > 1:
                middle = (left + right) // 2
                if _offset(zone, middle) == current:
                    right = middle
                else:
                    left = middle
            changes.append((right * _SECOND, previous, current))
            previous = current
        if probe == high:
            break
    return tuple(changes)


def _changes(name: str, first_year: int, last_year: int) -> tuple[int, list[tuple[int, int, int]]]:
    """The offset in force as ``first_year`` begins, and every change until ``last_year`` ends."""
    low = min(max(first_year, _FIRST_YEAR), _LAST_YEAR)
    high = min(max(last_year, low), _LAST_YEAR)
    initial = _offset(ZoneInfo(name), _year_start(low))
    return initial, [change for year in range(low, high + 1) for change in _changes_in_year(name, year)]


class ZoneTable:
    """The offset changes of some zones around a window, and conversions that use them.

    Rows of every zone are converted together; each frame passed in has a String
    ``timezone`` column. Instants and wall times are Int64 microseconds since the epoch
    (a wall time counted as if it were UTC). Only changes in the years from ``first``
    to ``last`` are listed: a row outside them reads the nearest listed offset, so
    callers size the table to the rows they convert.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> table = ZoneTable(["America/New_York"], datetime(2023, 3, 1, tzinfo=timezone.utc),
    ...                   datetime(2023, 3, 31, tzinfo=timezone.utc))
    >>> wall = int(datetime(2023, 3, 12, 2, 30, tzinfo=timezone.utc).timestamp()) * 1_000_000
    >>> frame = pl.LazyFrame({"timezone": ["America/New_York"], "wall": [wall]})
    >>> row = table.wall_to_instant(frame, gap="end").collect().row(0, named=True)
    >>> datetime.fromtimestamp(row["instant"] // 1_000_000, timezone.utc), row["moved"]
    (datetime.datetime(2023, 3, 12, 7, 0, tzinfo=datetime.timezone.utc), True)
    """

    def __init__(self, zones: list[str], first: datetime, last: datetime) -> None:
        self._offsets, self._walls = _tables(tuple(sorted(set(zones))), first.year, last.year)

    def wall_to_instant(self, frame: pl.LazyFrame, gap: Literal["shift", "end"] | pl.Expr) -> pl.LazyFrame:
        """Add ``instant`` and ``moved`` (the wall time is inside a DST gap) from ``wall``.

        A wall time in a gap shifts forward by the gap's length (``gap="shift"``) or
        becomes the first instant after it (``gap="end"``), or row by row as a Boolean
        expression says (True: the end); an ambiguous one is read as its first occurrence.
        """
        joined = self._asof_wall(frame.sort("wall"), "wall")
        special = pl.col("wall") < pl.col("special_to")
        in_gap = special & pl.col("gap")
        shifted = pl.col("wall") - pl.when(special).then("before").otherwise("after")
        to_end = pl.lit(gap == "end") if isinstance(gap, str) else gap
        instant = pl.when(in_gap & to_end).then("at").otherwise(shifted)
        return joined.with_columns(instant=instant, moved=in_gap).drop(_WALL_COLUMNS, strict=False)

    def local(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Add ``local`` (the wall time of ``instant``) and ``ambiguous`` (it occurs twice)."""
        joined = frame.sort("instant").join_asof(
            self._offsets,
            left_on="instant",
            right_on="at",
            by="timezone",
            strategy="backward",
            check_sortedness=False,
        )
        local = joined.with_columns(local=pl.col("instant") + pl.col("offset"))
        local = local.drop("at", "offset", strict=False)
        walls = self._asof_wall(local.sort("local"), "local")
        repeated = (pl.col("local") < pl.col("special_to")) & ~pl.col("gap")
        return walls.with_columns(ambiguous=repeated).drop(_WALL_COLUMNS, strict=False)

    def changes(self) -> pl.LazyFrame:
        """Every listed offset change: ``timezone``, ``at`` (the instant), ``before`` and
        ``after`` (UTC offsets), ``wall_from`` / ``wall_to`` (the wall times of the gap,
        ``gap`` True, or of the repeated hour, ``gap`` False: ``[wall_from, wall_to)``)."""
        return self._walls.filter(pl.col("at") != _NEVER).select(
            "timezone", "at", "before", "after", wall_from="special_from", wall_to="special_to", gap="gap"
        )

    def _asof_wall(self, frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
        return frame.join_asof(
            self._walls,
            left_on=column,
            right_on="special_from",
            by="timezone",
            strategy="backward",
            check_sortedness=False,
        )


@lru_cache(maxsize=256)
def _tables(zones: tuple[str, ...], first_year: int, last_year: int) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The offsets table (by instant) and wall-time table of ``zones`` over the years given."""
    offsets: list[tuple[str, int, int]] = []
    walls: list[tuple[str, int, int, int, int, int, bool]] = []
    for name in zones:
        initial, changes = _changes(name, first_year, last_year)
        offsets.append((name, _NEVER, initial))
        walls.append((name, _NEVER, _NEVER, initial, initial, _NEVER, False))
        for at, before, after in changes:
            offsets.append((name, at, after))
            low, high = sorted((before, after))
            walls.append((name, at + low, at + high, before, after, at, after > before))
    offset_table = pl.LazyFrame(offsets, schema=_OFFSETS_SCHEMA, orient="row").sort("at")
    wall_table = pl.LazyFrame(walls, schema=_WALLS_SCHEMA, orient="row").sort("special_from")
    return offset_table, wall_table
