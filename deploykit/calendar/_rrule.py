"""RFC 5545 rule sets (python-dateutil): checking, walking wall times, and cron-like rules.

Every date of a rule is a naive wall-clock time in the schedule's zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, rrule, rruleset, rrulestr

from deploykit.calendar._cron import FIELD_RANGES, CronFields
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


def _rule_set_from(text: str, before: datetime) -> rruleset:
    """The schedule's rule set, its rules fast-forwarded to just before ``before``."""
    parsed = rule_set(text)
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


def check_rule(text: str) -> None:
    """Raise a ``ValueError`` naming the rule when it is too long or dateutil rejects it."""
    if len(text) > MAX_RRULE_LENGTH:
        raise ValueError(
            f"rrule is {len(text)} characters long, more than {MAX_RRULE_LENGTH}: {text[:40]!r}..."
        )
    try:
        _probe(rule_set(text))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"invalid rrule {text!r}: {exc}") from None


def rule_candidates(text: str, start: datetime, where: ZoneInfo) -> Iterator[tuple[datetime, bool]]:
    """The rule's instants (UTC) with DST flags, from a little before ``start`` on.

    A wall time in a DST gap shifts forward by the gap (flagged).
    """
    first = wall_of(start, where) - LOOKBACK
    for wall in rule_walls_after(text, first):
        when = wall.replace(tzinfo=where).astimezone(UTC)
        yield flagged(when, is_gap(wall, where), where)
