"""The scheduling window of ``schedule_runs``: defaults, validation, and date selection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from deploykit.calendar import HORIZON, MAX_DATES, check_year, require_aware
from deploykit.store import Store

MAX_RUNS_LIMIT = MAX_DATES
"""Largest ``max_runs`` / ``min_runs`` accepted: a schedule yields at most this many dates per call."""


class _HasDates(Protocol):
    def get_dates(
        self, n: int | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[datetime]: ...


@dataclass(frozen=True)
class RunWindow:
    """Where and how many runs to schedule (Prefect's scheduler rules)."""

    start: datetime
    end: datetime
    min_time: timedelta
    min_runs: int
    max_runs: int

    def dates(self, schedule: _HasDates) -> list[datetime]:
        """The schedule's dates in this window: stop at ``max_runs`` / ``end``, or as soon as
        ``min_runs`` are collected and the last is ``min_time`` past the start.

        Dates are asked for in growing batches, so the usual few runs cost a few dates.
        """
        wanted = min(max(self.min_runs, 1), self.max_runs)
        while wanted:
            dates = schedule.get_dates(n=wanted, start=self.start, end=self.end)
            for count, date in enumerate(dates, start=1):
                if count >= self.min_runs and date >= self.start + self.min_time:
                    return dates[:count]
            if len(dates) < wanted or wanted == self.max_runs:
                return dates
            wanted = min(wanted * 4, self.max_runs)
        return []


def plan_window(
    session: Store,
    start_time: datetime | None,
    end_time: datetime | None,
    min_time: timedelta | None,
    min_runs: int | None,
    max_runs: int | None,
) -> RunWindow:
    """Fill defaults from ``session.schedule_settings`` and reject impossible windows.

    Given bounds must be aware and in ``MIN_YEAR``..``MAX_YEAR``; the default end stops
    at the end of ``MAX_YEAR``.
    """
    settings = session.schedule_settings
    start = _bound(start_time, "start_time") if start_time is not None else datetime.now(UTC)
    end = _bound(end_time, "end_time") if end_time is not None else min(start + settings.max_time, _HORIZON)
    if end < start:
        raise ValueError(f"end_time {end.isoformat()} is before start_time {start.isoformat()}")
    min_time = settings.min_time if min_time is None else min_time
    if not isinstance(min_time, timedelta) or min_time < timedelta(0):
        raise ValueError(f"min_time must be a non-negative timedelta, got {min_time!r}")
    if min_time > _HORIZON - start:
        raise ValueError(f"min_time {min_time} reaches past the last schedulable time {_HORIZON.isoformat()}")
    min_runs = _count(settings.min_runs if min_runs is None else min_runs, "min_runs")
    max_runs = _count(settings.max_runs if max_runs is None else max_runs, "max_runs")
    return RunWindow(start, end, min_time, min_runs, max_runs)


_HORIZON = HORIZON.replace(tzinfo=UTC)


def _bound(value: datetime, name: str) -> datetime:
    """An aware datetime in the supported years, else an error naming the argument."""
    return check_year(require_aware(value, name), name)


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RUNS_LIMIT:
        raise ValueError(f"{name} must be an integer between 0 and {MAX_RUNS_LIMIT}, got {value!r}")
    return value
