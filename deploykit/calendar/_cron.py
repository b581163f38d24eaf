"""Five-field cron expressions: parsing into allowed values, and the days and times they fire."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

from deploykit.calendar._limits import MAX_YEAR
from deploykit.calendar._zones import LOOKBACK, flagged, gap_end, is_gap, wall_of

CRON_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_RANDOM_OR_HASHED = re.compile(r"(^|[\s,/-])[rh](\(|\b)", re.IGNORECASE)
_SINGLE_VALUE_RANGE = re.compile(r"\b(\w+)-\1\b")
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
"""minute, hour, day-of-month, month, day-of-week (0 = Sunday): croniter's ``*`` expands to these."""


@dataclass(frozen=True)
class CronFields:
    """The values a five-field cron expression allows, field by field (sorted tuples).

    ``weekdays`` counts from 0 = Sunday to 6 = Saturday.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]

    def uses_or(self, day_or: bool) -> bool:
        """Whether day-of-month and day-of-week are OR-ed (both restricted and ``day_or``).

        Examples
        --------
        >>> parse_cron("0 0 1 * mon").uses_or(True), parse_cron("0 0 1 * *").uses_or(True)
        (True, False)
        >>> parse_cron("0 0 1 * mon").uses_or(False)
        False
        """
        return day_or and len(self.days) < 31 and len(self.weekdays) < 7

    def matches_day(self, day: date, day_or: bool) -> bool:
        """Whether the cron fires on some time of the calendar day ``day``.

        Examples
        --------
        >>> from datetime import date
        >>> fields = parse_cron("0 0 13 * fri")
        >>> fields.matches_day(date(2023, 1, 6), True), fields.matches_day(date(2023, 1, 6), False)
        (True, False)
        >>> fields.matches_day(date(2023, 10, 13), False)
        True
        """
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        return by_date or by_weekday if self.uses_or(day_or) else by_date and by_weekday

    def can_fire(self, day_or: bool) -> bool:
        """Whether some calendar day matches (e.g. ``0 0 30 2 *`` never does).

        Examples
        --------
        >>> parse_cron("0 0 30 2 *").can_fire(True), parse_cron("0 0 30 2 mon").can_fire(True)
        (False, True)
        """
        if self.uses_or(day_or):
            return True
        return any(day <= calendar.monthrange(2000, month)[1] for month in self.months for day in self.days)


@lru_cache(maxsize=4096)
def parse_cron(expression: str) -> CronFields:
    """Parse a five-field cron expression (or an ``@`` alias) into allowed values.

    Syntax (croniter's, case-insensitive): ``*``, numbers, ``jan``-``dec`` and
    ``sun``-``sat`` names, ranges ``a-b`` (wrapping when ``a > b``, e.g. ``fri-mon``),
    steps ``*/s``, ``a-b/s`` and ``a/s`` (``a`` up to the field's maximum), comma lists;
    day-of-week 7 is Sunday. Random/hashed values (``R``, ``H``) and ``L``, ``W``,
    ``#``, ``?`` are rejected, as is any field count other than five.

    Raises ``ValueError`` naming the expression and the problem.

    Examples
    --------
    >>> parse_cron("*/20 9-10 * jan,jul mon-fri")
    CronFields(minutes=(0, 20, 40), hours=(9, 10), days=(1, ..., 31), months=(1, 7),
               weekdays=(1, 2, 3, 4, 5))
    >>> parse_cron("@weekly").weekdays
    (0,)
    >>> parse_cron("0 0 * * H")
    Traceback (most recent call last):
    ...
    ValueError: invalid cron expression '0 0 * * H': random and hashed values (R, H) are ...
    """
    text = CRON_ALIASES.get(expression.strip().lower(), expression.strip().lower())
    try:
        if len(text.split()) != len(FIELD_RANGES):
            raise ValueError(
                f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(text.split())}"
            )
        if _RANDOM_OR_HASHED.search(text):
            raise ValueError("random and hashed values (R, H) are not supported")
        try:
            # croniter reads a one-value range "5-5" as the whole cycle: pass it as "5"
            expanded, nth_weekday = croniter.expand(_SINGLE_VALUE_RANGE.sub(r"\1", text))
        except CroniterError as exc:
            raise ValueError(str(exc)) from None
        if nth_weekday:
            raise ValueError("nth-weekday values (#) are not supported")
        return CronFields(*(_field_values(f, r) for f, r in zip(expanded, FIELD_RANGES, strict=True)))
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None


def _field_values(field: list[int | str], bounds: tuple[int, int]) -> tuple[int, ...]:
    """croniter's expansion of one field as sorted ints (``*`` = every value; 7 = Sunday)."""
    low, high = bounds
    if field == ["*"]:
        return tuple(range(low, high + 1))
    if not all(isinstance(value, int) for value in field):
        raise ValueError(f"{', '.join(map(str, field))}: only numbers, names, ranges, steps and lists")
    return tuple(sorted({value % 7 if high == 6 else value for value in field}))  # type: ignore[operator]


def cron_candidates(
    fields: CronFields, day_or: bool, start: datetime, where: ZoneInfo
) -> Iterator[tuple[datetime, bool]]:
    """The cron's instants (UTC) with DST flags, in order, from a little before ``start`` on.

    A matching wall time in a DST gap becomes the first instant after the gap (flagged).
    """
    times = [time(hour, minute) for hour in fields.hours for minute in fields.minutes]
    first_day = (wall_of(start, where) - LOOKBACK).date()
    for day in matching_days(fields, day_or, first_day):
        for moment in times:
            wall = datetime.combine(day, moment)
            if is_gap(wall, where):
                yield gap_end(wall, where), True
            else:
                yield flagged(wall.replace(tzinfo=where).astimezone(UTC), False, where)


def matching_days(fields: CronFields, day_or: bool, first: date) -> Iterator[date]:
    """The calendar days from ``first`` (inclusive) to the end of ``MAX_YEAR`` on which the cron fires."""
    for year in range(first.year, MAX_YEAR + 1):
        for month in fields.months:
            if (year, month) < (first.year, first.month):
                continue
            for day_of_month in range(1, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, day_of_month)
                if day >= first and fields.matches_day(day, day_or):
                    yield day
