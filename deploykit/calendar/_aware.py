"""The one rule for "is this datetime timezone-aware", and its two uses.

A datetime is aware when it has a ``tzinfo`` whose ``utcoffset`` is not None
(Python's own definition). Arguments that must be aware go through
:func:`require_aware`; schedule bounds, where naive means "in the schedule's zone",
go through :func:`as_utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def is_aware(value: datetime) -> bool:
    """Whether ``value`` names an instant (has a tzinfo that gives an offset)."""
    return value.tzinfo is not None and value.utcoffset() is not None


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` itself, or an error naming the argument when it is not an aware datetime.

    Examples
    --------
    >>> from datetime import datetime
    >>> require_aware(datetime(2023, 1, 1), "start")
    Traceback (most recent call last):
    ...
    ValueError: start must be timezone-aware, got naive 2023-01-01T00:00:00
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if not is_aware(value):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def as_utc(value: datetime, default_zone: ZoneInfo) -> datetime:
    """The instant of ``value`` in UTC; a naive one is read in ``default_zone`` (gap: shift forward)."""
    if not is_aware(value):
        value = value.replace(tzinfo=default_zone)
    return value.astimezone(UTC)
