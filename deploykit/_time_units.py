"""Times as whole microseconds since the Unix epoch: the unit of DuckDB's ``epoch_us``, of the
schedule expansion's wall clocks and of the run-history rollups' days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch, an aware UTC time."""

DAY_US = 86_400_000_000
"""Microseconds in a UTC day."""


def epoch_micros(value: datetime) -> int:
    """Whole microseconds from the epoch to the aware time ``value``.

    Examples
    --------
    >>> epoch_micros(datetime(1970, 1, 2, tzinfo=UTC)) == DAY_US
    True
    """
    return (value - EPOCH) // timedelta(microseconds=1)
