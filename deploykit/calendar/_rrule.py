"""RFC 5545 rule sets (python-dateutil): checking, walking wall times, and cron-like rules.

Every date of a rule is a naive wall-clock time in the schedule's zone.
"""

from __future__ import annotations

import heapq
from calendar import isleap, monthrange
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import (
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    rrulestr,
)

from deploykit.calendar._cron import FIELD_RANGES, CronFields
from deploykit.calendar._limits import (
    HORIZON,
    MAX_CANDIDATES,
    MAX_COUNT,
    MAX_FIRST_CANDIDATES,
    MAX_INTERVAL,
    MAX_YEAR,
    MIN_YEAR,
    Budget,
    check_year,
)
from deploykit.calendar._zones import LOOKBACK, flagged, is_gap, wall_of

MAX_RRULE_LENGTH = 6500
"""Longest accepted rrule string, in characters."""

RRULE_DEFAULT_START = datetime(2020, 1, 1)
"""Wall-clock start of a rule without ``DTSTART`` (Prefect 2.10's default anchor)."""


def _no_zone(_name: str) -> None:
    return None


@lru_cache(maxsize=1024)
def rule_set(text: str) -> rruleset:
    """The rule set with every date naive: wall-clock times in the schedule's zone."""
    return rrulestr(text, forceset=True, ignoretz=True, tzids=_no_zone, dtstart=RRULE_DEFAULT_START)


_FREQ_STEPS = {
    WEEKLY: timedelta(weeks=1),
    DAILY: timedelta(days=1),
    HOURLY: timedelta(hours=1),
    MINUTELY: timedelta(minutes=1),
    SECONDLY: timedelta(seconds=1),
}


_SUB_DAILY = frozenset({HOURLY, MINUTELY, SECONDLY})
_FREQ_LENGTHS = {YEARLY: timedelta(days=366), MONTHLY: timedelta(days=31), **_FREQ_STEPS}
"""The longest span one period of each FREQ covers (for ``MAX_INTERVAL``)."""
_DAYS_PER_PERIOD = {YEARLY: 366, MONTHLY: 31, WEEKLY: 7, DAILY: 1}
_FREQ_NAMES = dict(enumerate(("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")))
"""dateutil's FREQ constants (0 = YEARLY ... 6 = SECONDLY) by name."""
_DAY = timedelta(days=1)
_LAST_MICROSECOND = timedelta(days=1, microseconds=-1)


def _fast_forward(rule: rrule, before: datetime) -> rrule:
    """The same rule (without COUNT) restarted a few whole periods before ``before``.

    dateutil iterates from DTSTART, so a minutely rule from 2020 walks millions of dates
    to reach today. Moving DTSTART by whole multiples of FREQ x INTERVAL keeps every
    occurrence from ``before`` on (and the BY* defaults taken from DTSTART) unchanged.
    Monthly rules move by whole months when DTSTART's day is at most 28, yearly ones by
    whole years unless DTSTART is 29 February (else the day would change). (dateutil
    has no public getters: the attributes read here are private.)
    """
    start, interval = rule._dtstart, rule._interval
    step = _FREQ_STEPS.get(rule._freq)
    if step is not None:
        periods = (before - start) // (step * interval) - 2
        return rule.replace(dtstart=start + periods * step * interval) if periods > 0 else rule
    if rule._freq == MONTHLY and start.day <= 28:
        periods = ((before.year - start.year) * 12 + before.month - start.month) // interval - 2
        if periods > 0:
            months = start.month - 1 + periods * interval
            return rule.replace(dtstart=start.replace(year=start.year + months // 12, month=months % 12 + 1))
    if rule._freq == YEARLY and (start.month, start.day) != (2, 29):
        periods = (before.year - start.year) // interval - 2
        if periods > 0:
            return rule.replace(dtstart=start.replace(year=start.year + periods * interval))
    return rule


def _day_test(rule: rrule) -> Callable[[date], bool] | None:
    """Whether a calendar day passes the day filters of a daily or finer rule; None
    when the rule has no day filter (or one this test does not cover)."""
    months, weekdays = rule._bymonth, rule._byweekday
    monthdays, negative_monthdays, yeardays = rule._bymonthday, rule._bynmonthday, rule._byyearday
    if rule._byweekno or rule._byeaster or rule._bynweekday:
        return None
    if not (months or weekdays or monthdays or negative_monthdays or yeardays):
        return None

    def test(day: date) -> bool:
        if months and day.month not in months:
            return False
        if weekdays and day.weekday() not in weekdays:
            return False
        if monthdays or negative_monthdays:
            length = monthrange(day.year, day.month)[1]
            if day.day not in monthdays and day.day - length - 1 not in negative_monthdays:
                return False
        if yeardays:
            length = 366 if isleap(day.year) else 365
            number = day.timetuple().tm_yday
            if number not in yeardays and number - length - 1 not in yeardays:
                return False
        return True

    return test


def _walls_by_day(
    rule: rrule,
    test: Callable[[date], bool],
    first: datetime,
    last: datetime,
    counted: bool,
    budget: Budget,
) -> Iterator[datetime]:
    """A daily or finer rule's walls up to ``last``, one matching day at a time (each day
    spending the budget); those before ``first`` only when ``counted`` (a COUNT needs them).

    dateutil spends long on every day its filters reject (for a secondly rule, most of
    a second per day); here a rejected day costs one test, and each matching day that
    holds a point of the FREQ x INTERVAL grid is walked by dateutil alone.
    """
    start = rule._dtstart
    period = _FREQ_STEPS[rule._freq] * rule._interval
    # with COUNT, every date from DTSTART on counts; without, walls before ``first`` are skipped
    skip_to = start if counted else max(first, start)
    day = skip_to.date()
    while day <= last.date():
        if not test(day):
            day += _DAY
            continue
        low = max(datetime.combine(day, time()), skip_to)
        grid = start - (start - low) // period * period
        if grid.date() > day:
            day = grid.date()
            continue
        budget.spend()
        aligned = start + (low - start) // period * period
        until = min(datetime.combine(day, time()) + _LAST_MICROSECOND, last)
        yield from (wall for wall in rule.replace(dtstart=aligned, count=None, until=until) if wall >= low)
        day += _DAY


def _walk(rule: rrule, first: datetime, last: datetime, budget: Budget) -> Iterator[datetime]:
    """One rule's walls in ``[first, last]``, in order, each spending the budget."""
    count = rule._count
    last = min(last, rule._until or last)
    test = _day_test(rule) if rule._freq in _SUB_DAILY or rule._freq == DAILY else None
    if test is not None:
        walls: Iterable[datetime] = _walls_by_day(rule, test, first, last, count is not None, budget)
    else:
        bounded = rule.replace(count=None, until=last)
        walls = bounded if count is not None else _fast_forward(bounded, first)
    for wall in walls:
        budget.spend()
        if count is not None:
            count -= 1
        if wall >= first:
            yield wall
        if count == 0:
            return


def rule_walls_after(
    text: str, first: datetime, last: datetime = HORIZON, *, budget: Budget | None = None
) -> Iterator[datetime]:
    """The rule set's naive wall times in ``[first, last]`` (inclusive), in order.

    RRULE and RDATE dates, less EXRULE and EXDATE ones, as dateutil's ``rruleset``
    gives them, but bounded: no date after ``last`` (at most the end of ``MAX_YEAR``)
    is looked at, and more than ``MAX_CANDIDATES`` candidates (rule and exclusion dates
    together) raise :class:`BudgetExceeded` naming the rule.

    Examples
    --------
    >>> from datetime import datetime
    >>> from itertools import islice
    >>> [w.isoformat() for w in islice(rule_walls_after("FREQ=DAILY;BYHOUR=9", datetime(2023, 1, 1)), 2)]
    ['2023-01-01T09:00:00', '2023-01-02T09:00:00']
    """
    budget = budget or Budget(MAX_CANDIDATES, f"rrule {text!r}")
    last = min(last, HORIZON)
    parsed = rule_set(text)
    if len(parsed._rrule) == 1 and not (parsed._rdate or parsed._exrule or parsed._exdate):
        yield from _walk(parsed._rrule[0], first, last, budget)
        return
    dates = sorted(day for day in parsed._rdate if first <= day <= last)
    included = heapq.merge(dates, *(_walk(rule, first, last, budget) for rule in parsed._rrule))
    excluded = heapq.merge(
        sorted(parsed._exdate), *(_walk(rule, first, last, budget) for rule in parsed._exrule)
    )
    skip = next(excluded, None)
    previous = None
    for wall in included:
        while skip is not None and skip < wall:
            skip = next(excluded, None)
        if wall != skip and wall != previous:
            yield wall
        previous = wall


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
    rules = rule_set(text)
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

    minutes, hours, days, months, _ = FIELD_RANGES
    weekdays = None if rule._byweekday is None else [(day + 1) % 7 for day in rule._byweekday]
    fields = CronFields(
        minutes=values(rule._byminute, minutes),
        hours=values(rule._byhour, hours),
        days=values(rule._bymonthday, days),
        months=values(rule._bymonth, months),
        weekdays=values(weekdays, (0, 6)),
    )
    return fields, rule._dtstart


_DAY_FILTERS = ("bymonth", "bymonthday", "byyearday", "byweekno", "byweekday", "bysetpos")


def _probe(rules: rruleset) -> None:
    """Raise the errors dateutil defers to iteration (e.g. BYHOUR unreachable by INTERVAL).

    Each rule is tried once with its day filters dropped, so that it yields at once.
    """
    for rule in (*rules._rrule, *rules._exrule):
        loose = rule.replace(count=1, until=None, **dict.fromkeys(_DAY_FILTERS))
        next(iter(loose), None)


def check_rule(text: str) -> None:
    """Raise a ``ValueError`` naming the rule when it is too long, dateutil rejects it, or
    it is outside the bounds (``deploykit.calendar`` limits): a DTSTART outside
    ``MIN_YEAR``..``MAX_YEAR``, FREQ x INTERVAL over ``MAX_INTERVAL``, COUNT over
    ``MAX_COUNT``, a period that holds more than ``MAX_CANDIDATES`` candidates, no date
    before the horizon, or more than ``MAX_FIRST_CANDIDATES`` candidates to its first date.

    Examples
    --------
    >>> check_rule("FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30")
    Traceback (most recent call last):
    ...
    ValueError: invalid rrule 'FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30': it never fires before 2201
    """
    if len(text) > MAX_RRULE_LENGTH:
        raise ValueError(
            f"rrule is {len(text)} characters long, more than {MAX_RRULE_LENGTH}: {text[:40]!r}..."
        )
    try:
        rules = rule_set(text)
        for rule in (*rules._rrule, *rules._exrule):
            _check_bounds(rule)
        _probe(rules)
        budget = Budget(MAX_FIRST_CANDIDATES, "to reach its first date, it")
        if next(rule_walls_after(text, datetime(MIN_YEAR, 1, 1), budget=budget), None) is None:
            raise ValueError(f"it never fires before {MAX_YEAR + 1}")
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"invalid rrule {text!r}: {exc}") from None


def _check_bounds(rule: rrule) -> None:
    """Refuse a rule whose walk the limits cannot bound (see :func:`check_rule`)."""
    freq = _FREQ_NAMES[rule._freq]
    check_year(rule._dtstart, "DTSTART")
    if rule._interval > MAX_INTERVAL // _FREQ_LENGTHS[rule._freq]:
        raise ValueError(f"FREQ={freq};INTERVAL={rule._interval} spans more than {MAX_INTERVAL.days} days")
    if rule._count is not None and rule._count > MAX_COUNT:
        raise ValueError(f"COUNT={rule._count} is more than {MAX_COUNT:,}")
    if rule._freq in _SUB_DAILY and (rule._byweekno or rule._byeaster):
        raise ValueError(f"BYWEEKNO and BYEASTER need FREQ=DAILY or coarser, not FREQ={freq}")
    per_period = _DAYS_PER_PERIOD.get(rule._freq, 1) * len(rule._timeset or ())
    if per_period > MAX_CANDIDATES:
        raise ValueError(
            f"FREQ={freq} with {len(rule._timeset)} times a day lists up to {per_period:,} candidates "
            f"a period, more than {MAX_CANDIDATES:,}: use a finer FREQ with the same BY parts"
        )


def rule_candidates(text: str, start: datetime, where: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
    """The rule's instants (UTC) with DST flags, from a little before ``start`` on.

    A wall time in a DST gap shifts forward by the gap (flagged).
    """
    first = wall_of(start, where) - LOOKBACK
    for wall in rule_walls_after(text, first):
        when = wall.replace(tzinfo=where).astimezone(UTC)
        yield flagged(when, is_gap(wall, where), where)
