"""The scalar date walk every schedule shares: candidates in, the ``n`` earliest dates out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from deploykit.calendar._aware import as_utc
from deploykit.calendar._limits import HORIZON, check_year
from deploykit.calendar._zones import flagged, is_gap, wall_of

MAX_DATES = 1000
"""At most this many dates are produced per call, however large ``n`` is."""

HORIZON_UTC = HORIZON.replace(tzinfo=UTC)
"""The last instant a schedule yields."""

Candidates = Callable[[datetime], Iterator[tuple[datetime, bool]]]
"""From a UTC ``start``: instants (UTC) with DST flags, each at least ``previous - slack``."""


class Occurrence(NamedTuple):
    """One date of a schedule, and whether DST moved it or made its wall time ambiguous."""

    when: datetime
    dst_adjusted: bool


def _count(n: int | None, end: datetime | None) -> int:
    if n is None:
        return MAX_DATES if end is not None else 1
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a whole number or None, got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return min(n, MAX_DATES)


def _bound(end: datetime, nth: datetime | None) -> datetime:
    return end if nth is None else min(end, nth)


def _collect(
    candidates: Iterator[tuple[datetime, bool]],
    start: datetime,
    end: datetime,
    n: int,
    slack: timedelta,
) -> list[tuple[datetime, bool]]:
    """The ``n`` earliest distinct candidates in ``[start, end]``.

    ``candidates`` are UTC instants, each at least ``previous - slack``; the flags of
    candidates on one instant are AND-ed.
    """
    found: dict[datetime, bool] = {}
    nth: datetime | None = None
    while True:
        try:
            when, flag = next(candidates)
        except StopIteration:
            break
        if when - slack > _bound(end, nth):
            break
        if when >= start and when <= end:
            found[when] = found.get(when, True) and flag
            if nth is None and len(found) == n:
                nth = max(found)
    return sorted(found.items())[:n]


def earliest_occurrences(
    candidates: Candidates,
    where: ZoneInfo,
    n: int | None,
    start: datetime | None,
    end: datetime | None,
    *,
    slack: timedelta = timedelta(0),
) -> list[Occurrence]:
    """The ``n`` earliest distinct candidates in ``[start, end]``, aware in ``where``.

    ``start`` defaults to now; naive bounds are read in ``where``; ``n`` defaults to 1,
    or to ``MAX_DATES`` when ``end`` is given, and is capped at ``MAX_DATES``. Bounds
    outside ``MIN_YEAR``..``MAX_YEAR`` raise a ``ValueError`` naming them; no date after
    the end of ``MAX_YEAR`` (UTC) is produced.
    """
    lower = datetime.now(UTC) if start is None else as_utc(check_year(start, "start"), where)
    upper = HORIZON_UTC if end is None else min(as_utc(check_year(end, "end"), where), HORIZON_UTC)
    count = _count(n, end)
    if count == 0 or upper < lower:
        return []
    runs = _collect(candidates(lower), lower, upper, count, slack)
    return [Occurrence(when.astimezone(where), flag) for when, flag in runs]


def interval_candidates(
    anchor_date: datetime, interval: timedelta, start: datetime, where: ZoneInfo
) -> Iterator[tuple[datetime, bool]]:
    """``anchor + k * interval`` from a few steps before ``start`` on, with DST flags.

    The whole-day part of ``k * interval`` is added in local calendar days (a wall time
    in a gap shifts forward, flagged), the rest in absolute time.
    """
    anchor = anchor_date.astimezone(UTC)
    anchor_wall = wall_of(anchor_date, where)
    days = interval.days
    rest = interval - timedelta(days=days)
    k = (start - anchor) // interval - 3
    while True:
        base, moved = anchor, False
        if days and k:
            nominal = anchor_wall + timedelta(days=k * days)
            base = nominal.replace(tzinfo=where).astimezone(UTC)
            moved = is_gap(nominal, where)
        yield flagged(base + k * rest, moved, where)
        k += 1
