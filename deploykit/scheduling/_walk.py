"""Every date of many schedules in a window, past the bulk expansion's per-call cap."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from deploykit.calendar import MAX_DATES
from deploykit.scheduling._expand import _DATES_SCHEMA, expand_checked


def window_dates(
    texts: list[str], start: datetime, end: datetime, max_runs: int | None
) -> tuple[pl.DataFrame, set[int], dict[int, ValueError]]:
    """Every date of each schedule text in ``[start, end]`` (at most ``max_runs`` each), the
    keys of the schedules that had more, and the errors of those that cannot be expanded
    (left out, so one hostile schedule never stops the fleet).

    The bulk expansion gives at most ``MAX_DATES`` dates per schedule and call; schedules
    that fill a call are expanded again from just after their last date, all together
    from the earliest of those dates, until each is complete or has ``max_runs + 1``.

    Parameters
    ----------
    texts
        Distinct schedule JSON texts; a schedule's key is its position here.
    start, end
        The window, inclusive; timezone-aware.
    max_runs
        At most this many (earliest) dates per schedule; ``None``: every date.

    Returns
    -------
    tuple
        The dates (``_key`` and the columns of ``OUTPUT_SCHEMA`` but ``id``, by key and
        time), the keys of the schedules cut at ``max_runs``, and key -> error of the
        schedules that could not be expanded.

    See Also
    --------
    expand_checked : one call of the bulk expansion, capped at ``MAX_DATES`` per schedule.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> texts = ['{"cron": "0 9 * * *"}', '{"interval": 3600}', '{"cron": "0 9 30 2 *"}']
    >>> dates, cut, failed = window_dates(texts, datetime(2023, 1, 1, tzinfo=timezone.utc),
    ...                                   datetime(2023, 1, 3, tzinfo=timezone.utc), 3)
    >>> dates.group_by("_key").len().sort("_key").rows(), cut, list(failed)
    ([(0, 2), (1, 3)], {1}, [2])
    """
    want = None if max_runs is None else max_runs + 1
    found: list[pl.DataFrame] = []
    pending = list(range(len(texts)))
    since = start
    counts: dict[int, int] = dict.fromkeys(pending, 0)
    last: dict[int, datetime] = {}
    failed: dict[int, ValueError] = {}
    while pending:
        chunk, bad = expand_checked([texts[k] for k in pending], since, end, MAX_DATES)
        failed |= {pending[k]: error for k, error in bad.items()}
        chunk = chunk.with_columns(_key=pl.Series(pending, dtype=pl.Int64).gather(chunk.get_column("_key")))
        fresh = []
        for (key,), dates in chunk.group_by("_key", maintain_order=True):
            if key in last:
                dates = dates.filter(pl.col("scheduled_time") > last[key])
            if want is not None:
                dates = dates.head(want - counts[key])
            if dates.height:
                fresh.append(dates)
                counts[key] += dates.height
                last[key] = dates.get_column("scheduled_time").last()
        found.extend(fresh)
        full = set(
            chunk.group_by("_key").len().filter(pl.col("len") >= MAX_DATES).get_column("_key").to_list()
        )
        pending = [k for k in pending if k in full and (want is None or counts[k] < want)]
        if pending:
            since = min(last[k] for k in pending) + timedelta(microseconds=1)
    dates = pl.concat(found) if found else pl.DataFrame(schema=_DATES_SCHEMA)
    cut: set[int] = set()
    if max_runs is not None:
        cut = {k for k, n in counts.items() if n > max_runs}
        dates = dates.filter(pl.int_range(pl.len()).over("_key") < max_runs)
    return dates.sort("_key", "scheduled_time"), cut, failed
