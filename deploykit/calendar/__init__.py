"""Pure time logic, below the schemas: no pydantic, no store.

- zones: known zone names (the one validation), wall time <-> instant, DST gaps, and
  :class:`ZoneTable` for many rows at once (Polars);
- the one awareness rule (:func:`require_aware`, :func:`as_utc`);
- cron: :func:`parse_cron` into :class:`CronFields`, and the days and times they fire;
- rrule: checking, walking wall times, rules that fire like a cron;
- the scalar date walk every schedule shares (:func:`earliest_occurrences`);
- English descriptions;
- the limits: accepted years, intervals, counts, and the candidate budget of a walk.
"""

from __future__ import annotations

from deploykit.calendar._aware import as_utc, is_aware, require_aware
from deploykit.calendar._cron import CRON_ALIASES, CronFields, cron_candidates, parse_cron
from deploykit.calendar._dates import MAX_DATES, Occurrence, earliest_occurrences, interval_candidates
from deploykit.calendar._describe import describe_cron, describe_interval, describe_rrule
from deploykit.calendar._durations import parse_interval
from deploykit.calendar._limits import (
    HORIZON,
    MAX_CANDIDATES,
    MAX_COUNT,
    MAX_FIRST_CANDIDATES,
    MAX_INTERVAL,
    MAX_YEAR,
    MIN_YEAR,
    Budget,
    BudgetExceeded,
    check_year,
)
from deploykit.calendar._rrule import (
    MAX_RRULE_LENGTH,
    RRULE_DEFAULT_START,
    check_rule,
    rule_candidates,
    rule_cron_fields,
    rule_walls_after,
)
from deploykit.calendar._table import ZoneTable
from deploykit.calendar._zones import (
    LOOKBACK,
    iana_name,
    is_ambiguous,
    is_gap,
    known_zone,
    shifted,
    wall_of,
    wall_to_instant,
    zone,
    zone_names,
)

__all__ = [
    "CRON_ALIASES",
    "HORIZON",
    "LOOKBACK",
    "MAX_CANDIDATES",
    "MAX_COUNT",
    "MAX_DATES",
    "MAX_FIRST_CANDIDATES",
    "MAX_INTERVAL",
    "MAX_RRULE_LENGTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "RRULE_DEFAULT_START",
    "Budget",
    "BudgetExceeded",
    "CronFields",
    "Occurrence",
    "ZoneTable",
    "as_utc",
    "check_rule",
    "check_year",
    "cron_candidates",
    "describe_cron",
    "describe_interval",
    "describe_rrule",
    "earliest_occurrences",
    "iana_name",
    "interval_candidates",
    "is_ambiguous",
    "is_aware",
    "is_gap",
    "known_zone",
    "parse_cron",
    "parse_interval",
    "require_aware",
    "rule_candidates",
    "rule_cron_fields",
    "rule_walls_after",
    "shifted",
    "wall_of",
    "wall_to_instant",
    "zone",
    "zone_names",
]
