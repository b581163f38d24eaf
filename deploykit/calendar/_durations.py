"""Durations as people type them: ``3600``, ``6h``, ``90m``, ``1d 12h``.

Shared by the CLI's ``--interval`` and the schedule widget, so both accept the same text.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_MAX_SECONDS = timedelta.max.total_seconds()
_EXPECTED = "expected seconds (3600) or a duration such as 6h, 90m, 1d 12h"


def parse_interval(text: str) -> timedelta:
    """An interval typed as seconds (``3600``) or a duration (``6h``, ``1d 12h``, ``90m``).

    Raises
    ------
    ValueError
        The text is neither; the message says what is accepted. Whether the interval fits a
        schedule (positive) is the schedule model's check.

    Examples
    --------
    >>> [parse_interval(t).total_seconds() for t in ("6h", "1d 12h", "90", "1.5m")]
    [21600.0, 129600.0, 90.0, 90.0]
    >>> parse_interval("6x")
    Traceback (most recent call last):
    ...
    ValueError: interval '6x': expected seconds (3600) or a duration such as 6h, 90m, 1d 12h
    """
    cleaned = text.strip().lower()
    try:
        seconds = float(cleaned)
    except ValueError:
        parts = _DURATION.findall(cleaned)
        if not parts or _DURATION.sub("", cleaned).strip():
            raise ValueError(f"interval {text!r}: {_EXPECTED}") from None
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    if not abs(seconds) < _MAX_SECONDS:  # also NaN and infinity
        raise ValueError(f"interval {text!r}: {_EXPECTED}, shorter than {_MAX_SECONDS:.0f} seconds")
    return timedelta(seconds=seconds)
