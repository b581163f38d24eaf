"""Scalar time-zone arithmetic: which zone names are known, and wall time <-> instant.

A wall time is a naive ``datetime`` read on a zone's clock. An ambiguous wall time
(fall back) means its first occurrence (``fold=0``); one inside a DST gap either
shifts forward by the gap's length or becomes the first instant after the gap.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

LOOKBACK = timedelta(days=2)
"""Wider than any UTC offset or DST gap: wall times this far before an instant may still
map to instants at or after it, and candidates arrive at most this much out of order."""

_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every IANA zone name deploykit accepts (tzdata's, without ``localtime``-like aliases)."""
    return frozenset(available_timezones()) - _NOT_ZONES


@cache
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` of a known zone name (cached)."""
    return ZoneInfo(name)


def known_zone(name: str | None) -> str | None:
    """``name`` itself (None stays None), or a ``ValueError`` when it is no IANA zone name.

    Examples
    --------
    >>> known_zone("Europe/Berlin")
    'Europe/Berlin'
    >>> known_zone("Mars/Olympus")
    Traceback (most recent call last):
    ...
    ValueError: unknown timezone 'Mars/Olympus': expected an IANA name like 'Europe/Berlin'
    """
    if name is not None and name not in zone_names():
        raise ValueError(f"unknown timezone {name!r}: expected an IANA name like 'Europe/Berlin'")
    return name


def iana_name(value: tzinfo | None) -> str:
    """The IANA name of a ``tzinfo`` (zoneinfo or pytz), else ``"UTC"``."""
    name = getattr(value, "key", None) or getattr(value, "zone", None)
    return name if name in zone_names() else "UTC"


def offsets(wall: datetime, where: ZoneInfo) -> tuple[timedelta, timedelta]:
    """UTC offsets of a naive wall time read with fold=0 and fold=1."""
    first = wall.replace(tzinfo=where, fold=0).utcoffset()
    second = wall.replace(tzinfo=where, fold=1).utcoffset()
    assert first is not None and second is not None
    return first, second


def is_gap(wall: datetime, where: ZoneInfo) -> bool:
    """Whether the naive wall time falls in a DST gap of ``where`` (it never shows on the clock)."""
    first, second = offsets(wall, where)
    return second > first


def is_ambiguous(wall: datetime, where: ZoneInfo) -> bool:
    """Whether the naive wall time shows twice on the clock of ``where`` (fall back)."""
    first, second = offsets(wall, where)
    return second < first


def gap_end(wall: datetime, where: ZoneInfo) -> datetime:
    """The first instant (aware, UTC) after the DST gap that contains the nonexistent ``wall``."""
    low = math.floor(wall.replace(tzinfo=where, fold=1).timestamp())
    high = math.ceil(wall.replace(tzinfo=where, fold=0).timestamp())
    after = datetime.fromtimestamp(high, where).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, where).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def wall_to_instant(wall: datetime, timezone: str, *, gap: Literal["shift", "end"]) -> datetime:
    """Read a naive wall-clock time in ``timezone``; return the instant, aware in UTC.

    An ambiguous wall time means its first occurrence. A wall time inside a DST gap
    either moves forward by the length of the gap (``gap="shift"``, used by intervals,
    rrules and naive bounds) or becomes the first instant after the gap (``gap="end"``,
    used by cron).

    Examples
    --------
    >>> from datetime import datetime
    >>> wall_to_instant(datetime(2023, 3, 12, 2, 30), "America/New_York", gap="shift")
    datetime.datetime(2023, 3, 12, 7, 30, tzinfo=datetime.timezone.utc)
    >>> wall_to_instant(datetime(2023, 3, 12, 2, 30), "America/New_York", gap="end")
    datetime.datetime(2023, 3, 12, 7, 0, tzinfo=datetime.timezone.utc)
    >>> wall_to_instant(datetime(2023, 11, 5, 1, 30), "America/New_York", gap="end")
    datetime.datetime(2023, 11, 5, 5, 30, tzinfo=datetime.timezone.utc)
    """
    where = zone(timezone)
    if gap == "end" and is_gap(wall, where):
        return gap_end(wall, where)
    return wall.replace(tzinfo=where, fold=0).astimezone(UTC)


def wall_of(instant: datetime, where: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant (fold reset: it names the time, not the pass)."""
    return instant.astimezone(where).replace(tzinfo=None, fold=0)


def shifted(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, clamped to the datetime range."""
    try:
        return value + delta
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=value.tzinfo)
            if delta > timedelta(0)
            else datetime.min.replace(tzinfo=value.tzinfo)
        )


def flagged(when: datetime, moved: bool, where: ZoneInfo) -> tuple[datetime, bool]:
    """``when`` and its DST flag: ``moved`` by a gap, or its wall time occurs twice."""
    return when, moved or is_ambiguous(wall_of(when, where), where)
