"""One schedule's runs as a frame: the scalar path, for previews of a single schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl

from deploykit.scheduling._expand import OUTPUT_SCHEMA

if TYPE_CHECKING:
    from deploykit.schemas.schedules import BaseSchedule

RUNS_SCHEMA = pl.Schema({name: dtype for name, dtype in OUTPUT_SCHEMA.items() if name != "id"})
"""The columns of :func:`upcoming_runs`: the bulk expansion's, without its ``id``."""


def upcoming_runs(
    schedule: BaseSchedule, start: datetime, *, count: int | None, end: datetime | None
) -> pl.DataFrame:
    """The schedule's runs from ``start``: the next ``count``, or all up to ``end``.

    Returns
    -------
    polars.DataFrame
        :data:`RUNS_SCHEMA`: ``scheduled_time`` (UTC), ``local_time`` (wall clock),
        ``timezone`` and ``dst_adjusted`` (moved by a DST gap, or on a repeated wall time).

    See Also
    --------
    expand_schedules : the same columns for many schedules at once.

    Examples
    --------
    >>> from deploykit.schemas.schedules import CronSchedule
    >>> s = CronSchedule(cron="30 2 * * *", timezone="America/New_York")
    >>> upcoming_runs(s, datetime(2023, 3, 11), count=2, end=None)["dst_adjusted"].to_list()
    [False, True]
    """
    found = schedule.occurrences(count, start, end)
    return pl.DataFrame(
        {
            "scheduled_time": [o.when.astimezone(UTC) for o in found],
            "local_time": [o.when.replace(tzinfo=None) for o in found],
            "timezone": [schedule.zone_name] * len(found),
            "dst_adjusted": [o.dst_adjusted for o in found],
        },
        schema=RUNS_SCHEMA,
    )
