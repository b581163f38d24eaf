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

Bounds (``deploykit.calendar``'s limits, issue 15): anchors, DTSTARTs and ``start``/``end``
lie in the years 1900..2200 and no date after 2200 is produced; intervals (and an
rrule's FREQ x INTERVAL) are at most 100 years; a rule that never fires, or that needs
too many candidates, is refused when the model is built. The time logic itself lives in
``deploykit.calendar``; these models validate and call it.

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

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
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

from deploykit.calendar import (
    LOOKBACK,
    MAX_DATES,
    MAX_INTERVAL,
    MAX_RRULE_LENGTH,
    CronFields,
    Occurrence,
    check_rule,
    check_year,
    cron_candidates,
    describe_cron,
    describe_interval,
    describe_rrule,
    earliest_occurrences,
    iana_name,
    interval_candidates,
    known_zone,
    parse_cron,
    parse_interval,
    rule_candidates,
    zone,
)

__all__ = [
    "MAX_DATES",
    "MAX_RRULE_LENGTH",
    "BaseSchedule",
    "CronSchedule",
    "IntervalSchedule",
    "RRuleSchedule",
    "Schedule",
    "cached_schedule",
    "parse_schedule",
    "typed_schedule",
]


# --------------------------------------------------------------------------- models


ZoneName = Annotated[str | None, AfterValidator(known_zone)]
"""A schedule's ``timezone``: a name the zone database knows (see ``known_zone``), or None."""


class BaseSchedule(BaseModel):
    """Common behaviour of the three schedule models.

    Frozen: :func:`cached_schedule` shares one instance between callers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        return earliest_occurrences(
            self._candidates, zone(self.zone_name), n, start, end, slack=self._slack()
        )

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

    def _candidates(self, start: datetime) -> Iterator[tuple[datetime, bool]]:
        """Instants (UTC) with DST flags from a little before ``start``, each at least
        ``previous - self._slack()``."""
        raise NotImplementedError

    def _slack(self) -> timedelta:
        return timedelta(0)


def _set_field(model: BaseModel, name: str, value: Any) -> None:
    """Set a field of a frozen model while it is being validated (its resolved default)."""
    object.__setattr__(model, name, value)
    model.__pydantic_fields_set__.add(name)


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
    timezone: ZoneName = None

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"interval must be positive, got {value.total_seconds()} seconds")
        if value > MAX_INTERVAL:
            raise ValueError(
                f"interval of {value.days} days is longer than the limit of {MAX_INTERVAL.days} days"
            )
        return value

    @field_validator("anchor_date")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        return check_year(value, "anchor_date")

    @model_validator(mode="after")
    def _resolve_zone(self) -> IntervalSchedule:
        if self.anchor_date.tzinfo is None:
            name = self.timezone or "UTC"
            _set_field(self, "timezone", name)
            _set_field(self, "anchor_date", self.anchor_date.replace(tzinfo=zone(name)))
        elif self.timezone is None:
            _set_field(self, "timezone", iana_name(self.anchor_date.tzinfo))
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
        return describe_interval(self.interval, self.anchor_date, self.zone_name)

    def _candidates(self, start: datetime) -> Iterator[tuple[datetime, bool]]:
        return interval_candidates(self.anchor_date, self.interval, start, zone(self.zone_name))


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
    timezone: ZoneName = None
    day_or: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        parse_cron(value)
        return value

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
        return describe_cron(self.cron, self.day_or, self.zone_name)

    def _candidates(self, start: datetime) -> Iterator[tuple[datetime, bool]]:
        return cron_candidates(self.fields, self.day_or, start, zone(self.zone_name))


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
    timezone: Annotated[ZoneName, AfterValidator(lambda name: name or "UTC")] = "UTC"

    @field_validator("rrule")
    @classmethod
    def _valid_rule(cls, value: str) -> str:
        check_rule(value)
        return value

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
        return describe_rrule(self.rrule, self.zone_name)

    def _slack(self) -> timedelta:
        return LOOKBACK

    def _candidates(self, start: datetime) -> Iterator[tuple[datetime, bool]]:
        return rule_candidates(self.rrule, start, zone(self.zone_name))


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
