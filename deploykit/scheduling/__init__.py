"""Scheduling over time windows: bulk expansion, the stop rule's run window, and the load.

- :func:`expand_distinct` / :func:`with_ids`: the same expansion in two steps, for
  callers that expand each distinct schedule once and join ids themselves;
  :func:`expand_checked` skips the schedules that cannot be expanded and says why;
- :func:`plan_window` / :class:`RunWindow`: ``schedule_runs``' window (defaults, checks,
  Prefect's stop rule);
- :func:`window_dates`: every date of many schedules in a window, however many (past the
  expansion's per-call cap), cut at ``max_runs`` each;
- :func:`expand_schedules` turns a frame of ``(id, schedule JSON)`` into one row per
  scheduled run (vectorised; the same dates as each schedule's ``get_dates``).
- :func:`dst_effects` / :func:`schedule_dst_effects` list the runs a DST change moves,
  merges or doubles ("where DST changes my runs").
- :func:`runs_per_period` counts runs per time bucket (and per group, e.g. work queue).
- :func:`busiest_windows` lists the buckets with the most runs: schedule collisions.

Buckets are taken on ``scheduled_time`` in UTC, using Polars duration strings
(``"15m"``, ``"1h"``, ``"1d"``); a bucket is labelled by its start, and only buckets
with at least one run appear.
"""

from __future__ import annotations

import polars as pl

from deploykit._collect import POLARS_ENGINE
from deploykit.scheduling._dst import DST_SCHEMA, dst_effects, schedule_dst_effects
from deploykit.scheduling._expand import (
    OUTPUT_SCHEMA,
    Expansion,
    expand_checked,
    expand_distinct,
    expand_schedules,
    with_ids,
)
from deploykit.scheduling._upcoming import RUNS_SCHEMA, upcoming_runs
from deploykit.scheduling._walk import window_dates
from deploykit.scheduling._window import MAX_RUNS_LIMIT, RunWindow, plan_window

__all__ = [
    "DST_SCHEMA",
    "MAX_RUNS_LIMIT",
    "OUTPUT_SCHEMA",
    "RUNS_SCHEMA",
    "Expansion",
    "RunWindow",
    "busiest_windows",
    "dst_effects",
    "expand_checked",
    "expand_distinct",
    "expand_schedules",
    "plan_window",
    "runs_per_period",
    "schedule_dst_effects",
    "upcoming_runs",
    "window_dates",
    "with_ids",
]


def _bucketed(
    preview: pl.DataFrame | pl.LazyFrame, every: str, by: str | None
) -> tuple[pl.LazyFrame, list[str]]:
    frame = preview.lazy()
    if by is not None and by not in frame.collect_schema().names():
        raise ValueError(f"preview has no column {by!r}; pass by=None to count all runs")
    keys = [] if by is None else [by]
    counts = frame.group_by(*keys, period=pl.col("scheduled_time").dt.truncate(every)).agg(runs=pl.len())
    return counts, keys


def runs_per_period(
    preview: pl.DataFrame | pl.LazyFrame, every: str = "1h", by: str | None = "work_queue_name"
) -> pl.DataFrame:
    """Count the runs of a preview per time bucket, and per value of ``by`` (None: all).

    Returns columns ``by`` (when given), ``period`` (bucket start) and ``runs``, sorted.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> t = lambda h, m: datetime(2023, 1, 1, h, m, tzinfo=timezone.utc)
    >>> preview = pl.DataFrame({
    ...     "scheduled_time": [t(9, 0), t(9, 30), t(9, 45), t(10, 0)],
    ...     "work_queue_name": ["etl", "etl", "ml", "etl"],
    ... })
    >>> runs_per_period(preview).rows()
    [('etl', datetime.datetime(2023, 1, 1, 9, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 2),
     ('etl', datetime.datetime(2023, 1, 1, 10, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 1),
     ('ml', datetime.datetime(2023, 1, 1, 9, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 1)]
    >>> runs_per_period(preview, every="1d", by=None)["runs"].to_list()
    [4]
    """
    counts, keys = _bucketed(preview, every, by)
    return counts.sort(*keys, "period").collect(engine=POLARS_ENGINE)


def busiest_windows(
    preview: pl.DataFrame | pl.LazyFrame, every: str = "1h", top: int = 10, by: str | None = None
) -> pl.DataFrame:
    """The ``top`` buckets with the most runs (ties: earliest first): schedule collisions.

    Returns columns ``by`` (when given), ``period`` (bucket start) and ``runs``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> import polars as pl
    >>> times = [datetime(2023, 1, 1, h, tzinfo=timezone.utc) for h in (9, 9, 9, 10, 11, 11)]
    >>> busiest = busiest_windows(pl.DataFrame({"scheduled_time": times}), top=2)
    >>> [(row["period"].hour, row["runs"]) for row in busiest.iter_rows(named=True)]
    [(9, 3), (11, 2)]
    """
    counts, keys = _bucketed(preview, every, by)
    return (
        counts.sort(["runs", "period", *keys], descending=[True, False] + [False] * len(keys))
        .head(top)
        .collect(engine=POLARS_ENGINE)
    )
