"""The ranges every schedule computation accepts, and the work budget that bounds it.

Bounds make every computation finish in bounded time (issue 15): a walk over a rule's
candidates stops at the horizon (the end of ``MAX_YEAR``) and after ``MAX_CANDIDATES``
candidates, and values that would overflow Python's or Polars' datetimes are refused
at the boundary with an error naming the value, instead of failing later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MIN_YEAR = 1900
"""Earliest year of an anchor, a DTSTART or a window bound. Before 1900 the tz database
mostly has local mean time (offsets with seconds, no DST); no deployment runs then."""

MAX_YEAR = 2200
"""Latest year of an anchor, a DTSTART or a window bound, and the horizon of every walk:
dates after the end of this year are never produced. Far enough for any plan, and the
walk from 1900 to it is at most 110,000 days, which bounds the time spent on a sparse
rule."""

HORIZON = datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999)
"""The last wall time a schedule yields (naive)."""

MAX_INTERVAL = timedelta(days=100 * 366)
"""Longest interval: an ``IntervalSchedule``'s, or an rrule's ``FREQ`` x ``INTERVAL``
(yearly counts 366 days, monthly 31). 100 years; longer ones fire at most twice between
``MIN_YEAR`` and ``MAX_YEAR``."""

MAX_COUNT = 100_000
"""Largest rrule ``COUNT``: such a rule is walked from its DTSTART, one candidate per date."""

MAX_CANDIDATES = 500_000
"""Most candidate dates one computation lists (rule and exclusion dates together), and
the most one period of a rule may hold. About a second of dateutil; enough for two days
of a secondly rule on either side of a window (the DST look-back) plus 1,000 dates."""

MAX_FIRST_CANDIDATES = 20_000
"""Most candidates a rule may need, from its DTSTART, to reach its first date: checked
when the rule is validated (rejects e.g. an EXRULE that excludes every date)."""


class BudgetExceeded(ValueError):
    """A computation needed more than its budget of candidates."""


class Budget:
    """A countdown of candidates; :meth:`spend` raises :class:`BudgetExceeded` past zero."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.left = limit
        self.what = what

    def spend(self, count: int = 1) -> None:
        """Use ``count`` candidates of the budget."""
        self.left -= count
        if self.left < 0:
            raise BudgetExceeded(f"{self.what} needs more than {self.limit:,} candidate dates")


def check_year(value: datetime, name: str) -> datetime:
    """``value`` itself, or a ``ValueError`` naming it when its year is outside the range
    (a ``TypeError`` when it is not a datetime).

    Examples
    --------
    >>> check_year(datetime(9999, 1, 1), "start")
    Traceback (most recent call last):
    ...
    ValueError: start 9999-01-01T00:00:00 is outside the supported years 1900..2200
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"{name} {value.isoformat()} is outside the supported years {MIN_YEAR}..{MAX_YEAR}")
    return value
