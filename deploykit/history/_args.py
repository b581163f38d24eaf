"""Argument checks of the run-history functions: every bad value is a ValueError naming it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from deploykit._time_units import EPOCH

METRICS = ("duration", "lateness")
GROUP_COLUMNS = ("deployment_id", "flow_name", "work_pool_name", "work_queue_name", "state_type")

_US_PER_UNIT = {
    "ns": None,
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}
_MONTHS_PER_UNIT = {"mo": 1, "q": 3, "y": 12}
_TERM = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y)")
_WEEK_ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)


def aware(value: datetime | None, name: str) -> datetime | None:
    """``value`` in UTC; None stays None; a naive datetime or another type is a ValueError."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The checked window ``[since, until)`` in UTC (either end may be open)."""
    since, until = aware(since, "since"), aware(until, "until")
    if since is not None and until is not None and since > until:
        raise ValueError(f"since {since.isoformat()} is after until {until.isoformat()}")
    return since, until


def closed_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The checked window ``[since, until)`` in UTC, both ends required."""
    for value, name in ((since, "since"), (until, "until")):
        if value is None:
            raise ValueError(f"{name} is required: a timezone-aware datetime")
    return window(since, until)  # type: ignore[return-value]


def as_of_or_now(as_of: datetime | None) -> datetime:
    """``as_of`` in UTC, or now."""
    return aware(as_of, "as_of") or datetime.now(UTC)


def metric(value: str) -> str:
    """A known metric name."""
    if value not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {value!r}")
    return value


def group_columns(by: str | Sequence[str] | None) -> list[str]:
    """``by`` as a list of known group columns, without repeats."""
    columns = [] if by is None else [by] if isinstance(by, str) else list(by)
    for column in columns:
        if column not in GROUP_COLUMNS:
            raise ValueError(f"by: unknown group column {column!r}; choose from {', '.join(GROUP_COLUMNS)}")
    if len(set(columns)) != len(columns):
        raise ValueError(f"by: a group column is repeated in {columns!r}")
    return columns


def threshold_seconds(value: timedelta | float, name: str) -> float:
    """A non-negative lateness threshold in seconds (a timedelta or a number)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"{name} must be a non-negative timedelta or number of seconds, got {value!r}")
    return float(seconds)


@dataclass(frozen=True)
class Every:
    """A Polars duration string as DuckDB buckets the same way as ``Expr.dt.truncate``.

    Fixed steps (``us`` to ``d``) count from the Unix epoch, weeks from the first Monday
    after it (1970-01-05); calendar steps (``mo``, ``q``, ``y``) count months from
    January 1970.
    """

    text: str
    micros: int | None
    months: int | None
    origin: datetime


def every(value: str | None) -> Every | None:
    """Parse ``every`` as Polars does, or a ValueError naming it.

    One term (``"1d"``, ``"2w"``, ``"1mo"``) or sub-daily terms added up (``"1h30m"``);
    the mixes that Polars' ``truncate`` rejects or treats specially are refused.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"every must be a Polars duration string such as '1d', got {value!r}")
    _check_with_polars(value)
    terms = [(int(n), unit) for n, unit in _TERM.findall(value)]
    if "".join(f"{n}{u}" for n, u in terms) != value or not terms or any(n == 0 for n, _ in terms):
        raise ValueError(f"every {value!r} is not a positive Polars duration such as '1d', '6h' or '1mo'")
    units = {unit for _, unit in terms}
    if "ns" in units:
        raise ValueError(f"every {value!r}: nanosecond buckets are finer than the store's microseconds")
    if len(terms) == 1 and units <= set(_MONTHS_PER_UNIT):
        n, unit = terms[0]
        return Every(value, None, n * _MONTHS_PER_UNIT[unit], EPOCH)
    if len(terms) > 1 and units & {"d", "w", "mo", "q", "y"}:
        raise ValueError(f"every {value!r}: combine only sub-daily units (as in '1h30m'), or use one term")
    micros = sum(n * _US_PER_UNIT[unit] for n, unit in terms)  # type: ignore[operator]
    return Every(value, micros, None, _WEEK_ORIGIN if units == {"w"} else EPOCH)


def _check_with_polars(value: str) -> None:
    import polars as pl

    try:
        pl.Series([EPOCH]).dt.truncate(value)
    except Exception as exc:  # any Polars parse error becomes one clear ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"every {value!r} is not a Polars duration string: {first}") from None
