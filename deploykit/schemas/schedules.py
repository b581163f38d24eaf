"""Deployment schedules: fixed intervals, cron expressions and RFC 5545 recurrence rules.

Three pydantic v2 models, validated on construction, with the JSON shape of
Prefect 2.10's API (SPEC.md section 4):

- :class:`IntervalSchedule` -- ``anchor_date + k * interval`` for every integer ``k``;
- :class:`CronSchedule` -- a standard five-field cron expression (croniter syntax);
- :class:`RRuleSchedule` -- an RFC 5545 rule set, evaluated by python-dateutil.

Each model has ``get_dates(n, start, end)`` (sorted, unique, aware datetimes in the
schedule's time zone), ``occurrences(n, start, end)`` (the same dates, each with a
``dst_adjusted`` flag) and ``describe()`` (a sentence for people).

Common rules: ``start`` defaults to now; ``n`` defaults to 1, or to ``MAX_DATES``
(1000) when ``end`` is given, and is capped at ``MAX_DATES``; ``start`` and ``end`` are
inclusive; a naive ``start``/``end`` is read in the schedule's time zone.

Daylight saving time (deliberately unlike Prefect 2.10):

- interval: the whole-day part of the interval is added in local calendar days, keeping
  the wall-clock time; a wall time that does not exist moves forward by the length of
  the gap (02:30 -> 03:30), an ambiguous one takes its first occurrence. The sub-day
  part is added in absolute time, so an hourly schedule fires every real hour.
- cron: fields match the local wall clock. A matching wall time inside a spring-forward
  gap fires once, at the first instant after the gap; a wall time that occurs twice
  fires once, at its first occurrence.
- rrule: dateutil generates wall-clock times; a nonexistent one moves forward by the gap,
  an ambiguous one takes its first occurrence. Without a ``DTSTART`` line the rule starts
  at 2020-01-01 00:00 in the schedule's time zone (Prefect 2.10's default anchor).

A run is ``dst_adjusted`` when a DST gap moved it, or when its local wall-clock time
occurs twice that day. When several candidates land on one instant (several wall times
inside one gap), the run is kept once and flagged only if every candidate was moved.

Examples
--------
>>> from datetime import datetime
>>> s = CronSchedule(cron="0 9 * * mon-fri", timezone="America/New_York")
>>> [d.isoformat() for d in s.get_dates(2, start=datetime(2023, 3, 10))]
['2023-03-10T09:00:00-05:00', '2023-03-13T09:00:00-04:00']
>>> parse_schedule('{"interval": 3600}').kind
'interval'
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from typing import Annotated, Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from cron_descriptor import get_description
from croniter import croniter
from croniter.croniter import CroniterError
from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, rrule, rruleset, rrulestr
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_serializer,
    field_validator,
    model_validator,
)

from deploykit.calendar import parse_interval

__all__ = [
    "MAX_DATES",
    "MAX_RRULE_LENGTH",
    "RRULE_DEFAULT_START",
    "BaseSchedule",
    "CronFields",
    "CronSchedule",
    "IntervalSchedule",
    "Occurrence",
    "RRuleSchedule",
    "Schedule",
    "parse_cron",
    "parse_schedule",
    "typed_schedule",
    "wall_to_instant",
]

MAX_DATES = 1000
"""At most this many dates are produced per call, however large ``n`` is."""

MAX_RRULE_LENGTH = 6500
"""Longest accepted rrule string, in characters."""

RRULE_DEFAULT_START = datetime(2020, 1, 1)
"""Wall-clock start of a rule without ``DTSTART`` (Prefect 2.10's default anchor)."""

_LOOKBACK = timedelta(days=2)
"""Wider than any UTC offset or DST gap: wall times this far before ``start`` may still
map to instants at or after it, and candidates arrive at most this much out of order."""

_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


# --------------------------------------------------------------------------- time zones


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _check_zone(name: str | None) -> str | None:
    if name is not None and name not in _zone_names():
        raise ValueError(f"unknown timezone {name!r}: expected an IANA name like 'Europe/Berlin'")
    return name


def _offsets(wall: datetime, zone: ZoneInfo) -> tuple[timedelta, timedelta]:
    """UTC offsets of a naive wall time read with fold=0 and fold=1."""
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert first is not None and second is not None
    return first, second


def is_gap(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether the naive wall time falls in a DST gap of ``zone`` (it never shows on the clock)."""
    first, second = _offsets(wall, zone)
    return second > first


def _is_ambiguous(wall: datetime, zone: ZoneInfo) -> bool:
    first, second = _offsets(wall, zone)
    return second < first


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after the DST gap that contains the nonexistent ``wall``."""
    low = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = math.ceil(wall.replace(tzinfo=zone, fold=0).timestamp())
    after = datetime.fromtimestamp(high, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
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
    zone = _zone(timezone)
    if gap == "end" and is_gap(wall, zone):
        return _gap_end(wall, zone)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant (fold reset: it names the time, not the pass)."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware UTC datetime; a naive one is read in ``zone`` (gap: shift forward)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _iana_name(zone: tzinfo | None) -> str:
    name = getattr(zone, "key", None) or getattr(zone, "zone", None)
    return name if name in _zone_names() else "UTC"


# --------------------------------------------------------------------------- cron parsing

_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTH_WORDS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_WEEKDAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_RANDOM_OR_HASHED = re.compile(r"(^|[\s,/-])[rh](\(|\b)", re.IGNORECASE)
_SINGLE_VALUE_RANGE = re.compile(r"\b(\w+)-\1\b")
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
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
    text = _ALIASES.get(expression.strip().lower(), expression.strip().lower())
    try:
        if len(text.split()) != len(_FIELD_RANGES):
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
        return CronFields(*(_field_values(f, r) for f, r in zip(expanded, _FIELD_RANGES, strict=True)))
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


# --------------------------------------------------------------------------- shared machinery


class Occurrence(NamedTuple):
    """One date of a schedule, and whether DST moved it or made its wall time ambiguous."""

    when: datetime
    dst_adjusted: bool


def _count(n: int | None, end: datetime | None) -> int:
    if n is None:
        return MAX_DATES if end is not None else 1
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return min(n, MAX_DATES)


def _bound(end: datetime | None, nth: datetime | None) -> datetime | None:
    bounds = [b for b in (end, nth) if b is not None]
    return min(bounds) if bounds else None


def _collect(
    candidates: Iterator[tuple[datetime, bool]],
    start: datetime,
    end: datetime | None,
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
        except (StopIteration, OverflowError):
            break
        limit = _bound(end, nth)
        if limit is not None and when - slack > limit:
            break
        if when >= start and (end is None or when <= end):
            found[when] = found.get(when, True) and flag
            if nth is None and len(found) == n:
                nth = max(found)
    return sorted(found.items())[:n]


# --------------------------------------------------------------------------- models


class BaseSchedule(BaseModel):
    """Common behaviour of the three schedule models."""

    model_config = ConfigDict(extra="forbid")

    kind: ClassVar[str]

    @property
    def zone_name(self) -> str:
        """The IANA time zone the schedule is evaluated in.

        Examples
        --------
        >>> CronSchedule(cron="@daily").zone_name
        'UTC'
        """
        return getattr(self, "timezone", None) or "UTC"

    def occurrences(
        self, n: int | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Occurrence]:
        """Like :meth:`get_dates`, each date paired with its ``dst_adjusted`` flag.

        Examples
        --------
        >>> from datetime import datetime
        >>> s = CronSchedule(cron="30 2 * * *", timezone="America/New_York")
        >>> [(o.when.isoformat(), o.dst_adjusted) for o in s.occurrences(2, datetime(2023, 3, 11))]
        [('2023-03-11T02:30:00-05:00', False), ('2023-03-12T03:00:00-04:00', True)]
        """
        zone = _zone(self.zone_name)
        lower = datetime.now(UTC) if start is None else _aware(start, zone)
        upper = None if end is None else _aware(end, zone)
        count = _count(n, end)
        if count == 0 or (upper is not None and upper < lower):
            return []
        runs = _collect(self._candidates(lower, zone), lower, upper, count, self._slack())
        return [Occurrence(when.astimezone(zone), flag) for when, flag in runs]

    def get_dates(
        self, n: int | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[datetime]:
        """The schedule's next dates: sorted, unique, aware in the schedule's time zone.

        ``start`` (default now) and ``end`` are inclusive; naive ones are read in the
        schedule's time zone. ``n`` defaults to 1, or to 1000 when ``end`` is given;
        at most 1000 dates are returned.

        Examples
        --------
        >>> from datetime import datetime, timedelta
        >>> s = IntervalSchedule(interval=timedelta(days=1), anchor_date=datetime(2023, 1, 1, 9),
        ...                      timezone="America/New_York")
        >>> dates = s.get_dates(start=datetime(2023, 3, 11), end=datetime(2023, 3, 13))
        >>> [d.isoformat() for d in dates]
        ['2023-03-11T09:00:00-05:00', '2023-03-12T09:00:00-04:00']
        """
        return [occurrence.when for occurrence in self.occurrences(n, start, end)]

    def describe(self) -> str:
        """A short human-readable sentence (overridden by each schedule kind).

        Examples
        --------
        >>> RRuleSchedule(rrule="FREQ=DAILY;BYHOUR=9").describe()
        'Every day at 09:00 (UTC)'
        """
        raise NotImplementedError

    def _candidates(self, start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
        raise NotImplementedError

    def _slack(self) -> timedelta:
        return timedelta(0)


def _flagged(when: datetime, moved: bool, zone: ZoneInfo) -> tuple[datetime, bool]:
    return when, moved or _is_ambiguous(_wall(when, zone), zone)


_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60))


def _listing(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _humanize(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    units = _UNITS[:1] if seconds % 604800 == 0 else _UNITS[1:]
    parts = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append((int(count), unit))
    if seconds:
        parts.append((round(seconds, 6), "second"))
    if parts == [(1, parts[0][1])]:
        return f"every {parts[0][1]}"
    words = [f"{count:g} {unit}{'s' if count != 1 else ''}" for count, unit in parts]
    return "every " + _listing(words)


class IntervalSchedule(BaseSchedule):
    """Fires at ``anchor_date + k * interval`` for every integer ``k``.

    ``timezone`` defaults to the anchor's IANA zone, else UTC; a naive anchor is read
    in ``timezone`` (UTC when none). Whole days of the interval are added in local
    calendar days (wall-clock time kept), the rest in absolute time.

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> s = IntervalSchedule(interval=timedelta(hours=6), anchor_date=datetime(2023, 1, 1, 9),
    ...                      timezone="Europe/Berlin")
    >>> s.model_dump(mode="json")
    {'interval': 21600.0, 'anchor_date': '2023-01-01T09:00:00+01:00', 'timezone': 'Europe/Berlin'}
    """

    kind: ClassVar[str] = "interval"

    interval: timedelta
    anchor_date: datetime = Field(default_factory=lambda: datetime.now(UTC))
    timezone: str | None = None

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"interval must be positive, got {value.total_seconds()} seconds")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @model_validator(mode="after")
    def _resolve_zone(self) -> IntervalSchedule:
        if self.anchor_date.tzinfo is None:
            self.timezone = self.timezone or "UTC"
            self.anchor_date = self.anchor_date.replace(tzinfo=_zone(self.timezone))
        elif self.timezone is None:
            self.timezone = _iana_name(self.anchor_date.tzinfo)
        return self

    @field_serializer("interval", when_used="json")
    def _seconds(self, value: timedelta) -> float:
        return value.total_seconds()

    @field_serializer("anchor_date", when_used="json")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()

    def describe(self) -> str:
        """E.g. ``every 6 hours from 2023-01-01 09:00 CET``.

        Examples
        --------
        >>> from datetime import datetime, timedelta
        >>> IntervalSchedule(interval=timedelta(hours=6), anchor_date=datetime(2023, 1, 1, 9),
        ...                  timezone="Europe/Berlin").describe()
        'every 6 hours from 2023-01-01 09:00 CET'
        >>> IntervalSchedule(interval=timedelta(days=1, hours=12),
        ...                  anchor_date=datetime(2023, 7, 1, 9, 30, 15)).describe()
        'every 1 day and 12 hours from 2023-07-01 09:30:15 UTC'
        """
        anchor = self.anchor_date.astimezone(_zone(self.zone_name))
        clock = "%H:%M:%S" if anchor.second or anchor.microsecond else "%H:%M"
        return f"{_humanize(self.interval)} from {anchor.strftime(f'%Y-%m-%d {clock} %Z')}"

    def _candidates(self, start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
        anchor = self.anchor_date.astimezone(UTC)
        anchor_wall = _wall(self.anchor_date, zone)
        days = self.interval.days
        rest = self.interval - timedelta(days=days)
        k = (start - anchor) // self.interval - 3
        while True:
            base, moved = anchor, False
            if days and k:
                nominal = anchor_wall + timedelta(days=k * days)
                base = nominal.replace(tzinfo=zone).astimezone(UTC)
                moved = is_gap(nominal, zone)
            yield _flagged(base + k * rest, moved, zone)
            k += 1


class CronSchedule(BaseSchedule):
    """Fires whenever the local wall clock matches a five-field cron expression.

    ``timezone`` None means UTC. ``day_or`` True OR-s a restricted day-of-month with a
    restricted day-of-week (classic cron); False AND-s them.

    Examples
    --------
    >>> CronSchedule(cron="0 9 * * 1-5", timezone="America/New_York").model_dump(mode="json")
    {'cron': '0 9 * * 1-5', 'timezone': 'America/New_York', 'day_or': True}
    """

    kind: ClassVar[str] = "cron"

    cron: str
    timezone: str | None = None
    day_or: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        parse_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @model_validator(mode="after")
    def _fires(self) -> CronSchedule:
        if not self.fields.can_fire(self.day_or):
            raise ValueError(f"cron {self.cron!r} never fires: no month has those days")
        return self

    @property
    def fields(self) -> CronFields:
        """The parsed expression.

        Examples
        --------
        >>> CronSchedule(cron="@hourly").fields.minutes
        (0,)
        """
        return parse_cron(self.cron)

    def describe(self) -> str:
        """cron-descriptor's sentence plus the time zone.

        Examples
        --------
        >>> CronSchedule(cron="0 9 * * 1-5", timezone="America/New_York").describe()
        'At 09:00 AM, Monday through Friday (America/New_York)'
        >>> CronSchedule(cron="0 0 13 * fri", day_or=False).describe()
        'At 12:00 AM, on day 13 of the month, and on Friday (UTC)'
        """
        expression = _ALIASES.get(self.cron.strip().lower(), self.cron)
        try:
            text = get_description(expression)
        except Exception:  # cron-descriptor cannot word every valid expression
            text = f"cron {self.cron}"
        if not self.day_or:
            text = text.replace(", or on ", ", and on ")
        return f"{text} ({self.zone_name})"

    def _candidates(self, start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
        fields = self.fields
        times = [time(hour, minute) for hour in fields.hours for minute in fields.minutes]
        first_day = (_wall(start, zone) - _LOOKBACK).date()
        for day in _matching_days(fields, self.day_or, first_day):
            for moment in times:
                wall = datetime.combine(day, moment)
                if is_gap(wall, zone):
                    yield _gap_end(wall, zone), True
                else:
                    yield _flagged(wall.replace(tzinfo=zone).astimezone(UTC), False, zone)


def _matching_days(fields: CronFields, day_or: bool, first: date) -> Iterator[date]:
    for year in range(first.year, date.max.year + 1):
        for month in fields.months:
            if (year, month) < (first.year, first.month):
                continue
            for day_of_month in range(1, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, day_of_month)
                if day >= first and fields.matches_day(day, day_or):
                    yield day


def _no_zone(_name: str) -> None:
    return None


@lru_cache(maxsize=1024)
def _rule_set(text: str) -> rruleset:
    """The rule set with every date naive: wall-clock times in the schedule's zone."""
    return rrulestr(text, forceset=True, ignoretz=True, tzids=_no_zone, dtstart=RRULE_DEFAULT_START)


_FREQ_UNITS = {"MONTHLY": "month", "WEEKLY": "week", "DAILY": "day"}
_DAY_NAMES = {word[:2].upper(): word for word in _WEEKDAY_WORDS}
_PLAIN_RULE = re.compile(r"(RRULE:)?[A-Z]+=[A-Z0-9,]+(;[A-Z]+=[A-Z0-9,]+)*")
_DESCRIBED_PARTS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE"}
_FREQ_STEPS = {
    WEEKLY: timedelta(weeks=1),
    DAILY: timedelta(days=1),
    HOURLY: timedelta(hours=1),
    MINUTELY: timedelta(minutes=1),
    SECONDLY: timedelta(seconds=1),
}


def _fast_forward(rule: rrule, before: datetime) -> rrule:
    """The same rule restarted a few whole periods before ``before``.

    dateutil iterates from DTSTART, so a minutely rule from 2020 walks millions of dates
    to reach today. Moving DTSTART by whole multiples of FREQ x INTERVAL keeps every
    occurrence from ``before`` on (and the BY* defaults taken from DTSTART) unchanged,
    for weekly or finer rules without COUNT. (dateutil has no public getters: the
    attributes read here are private.)
    """
    step = _FREQ_STEPS.get(rule._freq)
    if step is None or rule._count is not None:
        return rule
    period = step * rule._interval
    periods = (before - rule._dtstart) // period - 2
    return rule.replace(dtstart=rule._dtstart + periods * period) if periods > 0 else rule


def rule_walls_after(text: str, first: datetime) -> Iterator[datetime]:
    """The rule set's naive wall times from ``first`` on (inclusive), in order, until datetime's end.

    Examples
    --------
    >>> from datetime import datetime
    >>> from itertools import islice
    >>> [w.isoformat() for w in islice(rule_walls_after("FREQ=DAILY;BYHOUR=9", datetime(2023, 1, 1)), 2)]
    ['2023-01-01T09:00:00', '2023-01-02T09:00:00']
    """
    walls = _rule_set_from(text, first).xafter(first, inc=True)
    while True:
        try:
            yield next(walls)
        except (StopIteration, OverflowError):
            return


_CRON_LIKE_FREQS = frozenset({MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY})


@lru_cache(maxsize=1024)
def rule_cron_fields(text: str) -> tuple[CronFields, datetime] | None:
    """The cron fields that fire exactly like the rule from its DTSTART on, and that DTSTART.

    A rule qualifies when it is one RRULE (no EXRULE, RDATE, EXDATE) with FREQ from
    MONTHLY to MINUTELY, INTERVAL 1, no COUNT or UNTIL, whole-minute times, and only
    BYMONTH, positive BYMONTHDAY, plain BYDAY, BYHOUR and BYMINUTE parts: then every
    part is a filter, AND-ed, like a cron with ``day_or=False``. Parts the rule leaves
    out are filled from DTSTART by dateutil. Other rules give None. Weekdays count
    from 0 = Sunday, as cron does.

    Examples
    --------
    >>> fields, start = rule_cron_fields("FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=7")
    >>> fields.weekdays, fields.hours, fields.minutes, fields.days == tuple(range(1, 32)), start
    ((1, 5), (7,), (0,), True, datetime.datetime(2020, 1, 1, 0, 0))
    >>> rule_cron_fields("FREQ=MONTHLY;BYDAY=1MO") is None
    True
    """
    rules = _rule_set(text)
    if len(rules._rrule) != 1 or rules._exrule or rules._rdate or rules._exdate:
        return None
    rule = rules._rrule[0]
    if (
        rule._freq not in _CRON_LIKE_FREQS
        or rule._interval != 1
        or rule._count is not None
        or rule._until is not None
        or any((rule._bysetpos, rule._byyearday, rule._byweekno, rule._byeaster))
        or rule._bynmonthday
        or rule._bynweekday
        or set(rule._bysecond) != {0}
    ):
        return None

    def values(chosen: Iterable[int] | None, bounds: tuple[int, int]) -> tuple[int, ...]:
        return tuple(sorted(chosen)) if chosen else tuple(range(bounds[0], bounds[1] + 1))

    minutes, hours, days, months, _ = _FIELD_RANGES
    weekdays = None if rule._byweekday is None else [(day + 1) % 7 for day in rule._byweekday]
    fields = CronFields(
        minutes=values(rule._byminute, minutes),
        hours=values(rule._byhour, hours),
        days=values(rule._bymonthday, days),
        months=values(rule._bymonth, months),
        weekdays=values(weekdays, (0, 6)),
    )
    return fields, rule._dtstart


def _rule_set_from(text: str, before: datetime) -> rruleset:
    """The schedule's rule set, its rules fast-forwarded to just before ``before``."""
    parsed = _rule_set(text)
    fast = rruleset()
    for rule in parsed._rrule:
        fast.rrule(_fast_forward(rule, before))
    for rule in parsed._exrule:
        fast.exrule(_fast_forward(rule, before))
    for day in parsed._rdate:
        fast.rdate(day)
    for day in parsed._exdate:
        fast.exdate(day)
    return fast


_DAY_FILTERS = ("bymonth", "bymonthday", "byyearday", "byweekno", "byweekday", "bysetpos")


def _probe(rules: rruleset) -> None:
    """Raise the errors dateutil defers to iteration (e.g. BYHOUR unreachable by INTERVAL).

    Each rule is tried once with its day filters dropped, so that it yields at once.
    """
    for rule in (*rules._rrule, *rules._exrule):
        loose = rule.replace(count=1, until=None, **dict.fromkeys(_DAY_FILTERS))
        next(iter(loose), None)


def _describe_rule(text: str) -> str | None:
    """Words for a single plain monthly, weekly or daily RRULE line; else None.

    Parts the rule leaves out take their value from the default DTSTART, 2020-01-01
    00:00, a Wednesday: the first of the month, on Wednesdays, at 00:00.
    """
    body = text.strip().upper()
    if not _PLAIN_RULE.fullmatch(body):
        return None
    parts = dict(pair.split("=") for pair in body.removeprefix("RRULE:").split(";"))
    unit = _FREQ_UNITS.get(parts.get("FREQ", ""))
    days = parts.get("BYDAY", "WE" if unit == "week" else "").split(",")
    if unit is None or not set(parts) <= _DESCRIBED_PARTS or not set(days) <= {"", *_DAY_NAMES}:
        return None
    if unit == "month" and "BYDAY" not in parts:
        parts.setdefault("BYMONTHDAY", "1")
    every = int(parts.get("INTERVAL", "1"))
    words = [f"Every {unit}" if every == 1 else f"Every {every} {unit}s"]
    if "BYMONTH" in parts:
        months = [_MONTH_WORDS[int(m) - 1] for m in parts["BYMONTH"].split(",")]
        words.append("in " + _listing(months))
    if "BYMONTHDAY" in parts:
        words.append(f"on day {_listing(parts['BYMONTHDAY'].split(','))}")
    if days != [""]:
        words.append("on " + _listing([_DAY_NAMES[d] for d in days]))
    hours = [int(h) for h in parts.get("BYHOUR", "0").split(",")]
    minutes = [int(m) for m in parts.get("BYMINUTE", "0").split(",")]
    words.append("at " + _listing([f"{h:02d}:{m:02d}" for h in hours for m in minutes]))
    return " ".join(words)


class RRuleSchedule(BaseSchedule):
    """Fires on the dates of an RFC 5545 rule set (RRULE, EXRULE, RDATE, EXDATE, DTSTART).

    Every date in the rule (``DTSTART``, ``UNTIL``, ``RDATE``, ``EXDATE``) is read as a
    wall-clock time in ``timezone``, whatever zone it names. Without ``DTSTART`` the
    rule starts at 2020-01-01 00:00 (so ``BYMINUTE``/``BYSECOND`` default to 0).

    Examples
    --------
    >>> from datetime import datetime
    >>> s = RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=7", timezone="Asia/Tokyo")
    >>> [d.isoformat() for d in s.get_dates(2, start=datetime(2023, 6, 1))]
    ['2023-06-02T07:00:00+09:00', '2023-06-05T07:00:00+09:00']
    """

    kind: ClassVar[str] = "rrule"

    rrule: str
    timezone: str | None = "UTC"

    @field_validator("rrule")
    @classmethod
    def _valid_rule(cls, value: str) -> str:
        if len(value) > MAX_RRULE_LENGTH:
            raise ValueError(
                f"rrule is {len(value)} characters long, more than {MAX_RRULE_LENGTH}: {value[:40]!r}..."
            )
        try:
            _probe(_rule_set(value))
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"invalid rrule {value!r}: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str:
        return _check_zone(value) or "UTC"

    def describe(self) -> str:
        """Words for simple rules, else the rule text; plus the time zone.

        Examples
        --------
        >>> rule = "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7"
        >>> RRuleSchedule(rrule=rule, timezone="Asia/Tokyo").describe()
        'Every week on Monday, Wednesday and Friday at 07:00 (Asia/Tokyo)'
        >>> RRuleSchedule(rrule="DTSTART:20230101T090000\\nRRULE:FREQ=HOURLY;COUNT=3").describe()
        'RRULE DTSTART:20230101T090000 RRULE:FREQ=HOURLY;COUNT=3 (UTC)'
        """
        text = _describe_rule(self.rrule) or "RRULE " + " ".join(self.rrule.split())
        return f"{text} ({self.zone_name})"

    def _slack(self) -> timedelta:
        return _LOOKBACK

    def _candidates(self, start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
        first = _wall(start, zone) - _LOOKBACK
        for wall in rule_walls_after(self.rrule, first):
            when = wall.replace(tzinfo=zone).astimezone(UTC)
            yield _flagged(when, is_gap(wall, zone), zone)


# --------------------------------------------------------------------------- the union


def _schedule_tag(value: Any) -> str | None:
    if isinstance(value, BaseSchedule):
        return value.kind
    if isinstance(value, dict):
        tags = [key for key in ("interval", "cron", "rrule") if key in value]
        return tags[0] if len(tags) == 1 else None
    return None


def _decode_json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"schedule is not valid JSON: {exc}") from None
    return value


Schedule = Annotated[
    Annotated[IntervalSchedule, Tag("interval")]
    | Annotated[CronSchedule, Tag("cron")]
    | Annotated[RRuleSchedule, Tag("rrule")],
    Discriminator(
        _schedule_tag,
        custom_error_type="schedule_kind",
        custom_error_message="a schedule needs exactly one of the keys 'interval', 'cron', 'rrule'",
    ),
    BeforeValidator(_decode_json),
]
"""Any schedule, as a pydantic field type: a dict (or JSON string) picks its model by key."""

_SCHEDULE = TypeAdapter(Schedule, config=ConfigDict(title="Schedule"))


@lru_cache(maxsize=4096)
def cached_schedule(text: str) -> IntervalSchedule | CronSchedule | RRuleSchedule:
    """:func:`parse_schedule` of a stored schedule's JSON text, memoised.

    Bulk and per-deployment scheduling meet the same few schedule texts again and
    again. The model returned is shared between callers: read it, never modify it.

    Examples
    --------
    >>> cached_schedule('{"cron": "0 9 * * *"}') is cached_schedule('{"cron": "0 9 * * *"}')
    True
    """
    schedule = parse_schedule(text)
    if schedule is None:
        raise ValueError("schedule text is JSON null")
    return schedule


def parse_schedule(
    data: dict[str, Any] | str | BaseSchedule | None,
) -> IntervalSchedule | CronSchedule | RRuleSchedule | None:
    """Build the schedule model that ``data`` describes (None stays None).

    The model is picked by key: ``interval``, ``cron`` or ``rrule``. A JSON string is
    decoded first. Bad input raises a pydantic ``ValidationError``.

    Examples
    --------
    >>> parse_schedule({"cron": "0 9 * * *", "timezone": "Europe/Berlin"})
    CronSchedule(cron='0 9 * * *', timezone='Europe/Berlin', day_or=True)
    >>> parse_schedule('{"rrule": "FREQ=DAILY"}').timezone
    'UTC'
    >>> parse_schedule(None) is None
    True
    >>> parse_schedule({"every": 5})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Schedule
    ...
    """
    if data is None:
        return None
    return _SCHEDULE.validate_python(data)


def typed_schedule(kind: str, text: str, timezone: str | None, anchor: datetime) -> Schedule:
    """The schedule model for text typed by a person (validated by the model itself).

    ``kind`` is ``cron``, ``interval`` (seconds or a duration such as ``6h``, anchored at
    ``anchor``, wall clock in ``timezone``) or ``rrule``; a blank time zone means the
    model's default. Shared by the CLI's ``preview`` and the schedule widget.

    Examples
    --------
    >>> typed_schedule("cron", "0 9 * * *", "Europe/Berlin", datetime(2023, 1, 1)).describe()
    'At 09:00 AM (Europe/Berlin)'
    >>> typed_schedule("interval", "6h", "UTC", datetime(2023, 1, 1)).interval
    datetime.timedelta(seconds=21600)
    >>> typed_schedule("cron", "61 * * * *", "UTC", datetime(2023, 1, 1))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for CronSchedule
    ...
    """
    zone = (timezone or "").strip() or None
    if kind == "cron":
        return CronSchedule(cron=text.strip(), timezone=zone)
    if kind == "interval":
        return IntervalSchedule(interval=parse_interval(text), anchor_date=anchor, timezone=zone)
    if kind == "rrule":
        return RRuleSchedule(rrule=text.strip(), timezone=zone or "UTC")
    raise ValueError(f"unknown schedule kind {kind!r}; expected cron, interval or rrule")
