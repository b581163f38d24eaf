"""Fleet-wide scheduling: preview every selected deployment's runs, or schedule them all at once.

Schedules are expanded in bulk by ``deploykit.scheduling`` (the same dates as each
schedule's ``get_dates``) and the runs are inserted by one statement.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlglot

from deploykit._collect import POLARS_ENGINE
from deploykit.calendar import MAX_DATES, require_aware
from deploykit.filters import DeploymentFilter
from deploykit.models._deployment_query import SCHEDULE_KIND_SQL, filtered
from deploykit.models._filters import takes_filters
from deploykit.models._scheduled_runs import insert_fleet_runs, iso_text
from deploykit.models._skipped import warn_skipped
from deploykit.predicates import SqlCompiler
from deploykit.scheduling import RunWindow, expand_checked, plan_window, window_dates
from deploykit.store import Store

if TYPE_CHECKING:
    from typing import Unpack

    from deploykit.models._filters import FleetFilters

PREVIEW_MAX_RUNS = 1000
"""Default ``max_runs`` of :func:`preview_runs` (per schedule; pass ``None`` for every run)."""


@takes_filters()
def preview_runs(
    session: Store,
    start_time: datetime,
    end_time: datetime,
    *,
    include_inactive: bool = False,
    max_runs: int | None = PREVIEW_MAX_RUNS,
    max_runs_per_deployment: int | None = None,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """Every run the selected deployments' schedules would create in ``[start_time, end_time]``.

    Nothing is written. Each active schedule of each deployment that is not paused is
    expanded (in bulk, ``deploykit.scheduling``, the same dates as the schedule's
    ``get_dates``); a deployment with several schedules has the runs of each, marked
    by ``schedule_id``.

    Parameters
    ----------
    start_time, end_time
        The window, inclusive; timezone-aware, at most ``MAX_PREVIEW_WINDOW`` long
        (named as :func:`schedule_all` names its window).
    flow_filter, flow_run_filter, task_run_filter, deployment_filter, work_pool_filter, work_queue_filter
        Select deployments as :func:`read_deployments` does (:class:`FleetFilters`).
    include_inactive
        Also list the runs of inactive schedules and of paused deployments, with
        ``will_run`` False: they will not happen unless resumed.
    max_runs
        At most this many (earliest) runs per schedule; ``None``: every run in the window,
        exactly. A schedule cut by the cap has ``truncated`` True on its rows and a
        :class:`PreviewTruncated` warning names its deployments.
    max_runs_per_deployment
        Deprecated name of ``max_runs`` (and its old bound, 1 to ``MAX_DATES``).

    Returns
    -------
    polars.DataFrame
        ``deployment_id``, ``deployment_name``, ``flow_name``, ``work_queue_name``,
        ``work_pool_name``, ``schedule_id``, ``schedule_type``, ``timezone``,
        ``scheduled_time`` (UTC), ``local_time`` (wall clock in the schedule's zone),
        ``dst_adjusted`` (the run was moved by a DST gap or falls on a repeated wall
        time), ``will_run`` (False: inactive schedule or paused deployment) and
        ``truncated`` (the schedule had more runs in the window than ``max_runs``), by time.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.deployments import create_deployment
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> _ = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id,
    ...     schedule={"cron": "30 2 * * *", "timezone": "America/New_York"}))
    >>> runs = preview_runs(store, datetime(2023, 3, 11, tzinfo=timezone.utc),
    ...                     datetime(2023, 3, 13, tzinfo=timezone.utc))
    >>> runs.select("local_time", "dst_adjusted").rows()
    [(datetime.datetime(2023, 3, 11, 2, 30), False), (datetime.datetime(2023, 3, 12, 3, 0), True)]
    """
    if max_runs_per_deployment is not None:
        warnings.warn(
            "preview_runs(max_runs_per_deployment=) is now max_runs=, as in schedule_all",
            DeprecationWarning,
            stacklevel=3,  # the caller of takes_filters' wrapper
        )
        if not _is_count(max_runs_per_deployment) or max_runs_per_deployment > MAX_DATES:
            raise ValueError(f"max_runs must be between 1 and {MAX_DATES}, got {max_runs_per_deployment!r}")
        max_runs = max_runs_per_deployment
    start = require_aware(start_time, "start_time")
    end = require_aware(end_time, "end_time")
    if end < start:
        raise ValueError(f"end_time {end.isoformat()} is before start_time {start.isoformat()}")
    if end - start > MAX_PREVIEW_WINDOW:
        raise ValueError(f"preview window {end - start} is longer than the limit {MAX_PREVIEW_WINDOW}")
    if max_runs is not None and (not _is_count(max_runs) or max_runs > MAX_PREVIEW_RUNS):
        raise ValueError(
            f"max_runs must be a positive integer or None (every run), at most {MAX_PREVIEW_RUNS:,}; "
            f"got {max_runs!r}"
        )
    selected = _scheduled_deployments(session, include_inactive, **filters)
    texts = selected.get_column("schedule").unique(maintain_order=True).to_list()
    dates, cut, failed = window_dates(texts, start, end, max_runs)
    warn_skipped("preview_runs", selected.rename({"deployment_name": "name"}), texts, failed, stacklevel=4)
    keys = pl.DataFrame(
        {"schedule": texts, "_key": range(len(texts))}, schema={"schedule": pl.String, "_key": pl.Int64}
    )
    preview = (
        selected.join(keys, on="schedule")
        .join(dates, on="_key", how="inner")
        .with_columns(truncated=pl.col("_key").is_in(sorted(cut)))
        .rename({"id": "deployment_id"})
        .select(PREVIEW_COLUMNS)
        .sort("scheduled_time", "deployment_name", "deployment_id", "schedule_id")
    )
    if cut:
        _warn_truncated(preview, max_runs)
    return preview


PREVIEW_COLUMNS = (
    "deployment_id",
    "deployment_name",
    "flow_name",
    "work_queue_name",
    "work_pool_name",
    "schedule_id",
    "schedule_type",
    "timezone",
    "scheduled_time",
    "local_time",
    "dst_adjusted",
    "will_run",
    "truncated",
)


class PreviewTruncated(UserWarning):
    """A preview stopped some schedules at ``max_runs``: it does not show every run of the window."""


def _warn_truncated(preview: pl.DataFrame, max_runs: int | None) -> None:
    names = (
        preview.filter("truncated")
        .select(pl.concat_str("flow_name", pl.lit("/"), "deployment_name").alias("name"))
        .unique()
        .sort("name")
        .get_column("name")
        .to_list()
    )
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    warnings.warn(
        f"preview_runs stopped {len(names)} deployment(s) at max_runs={max_runs} runs per schedule: "
        f"{shown}; pass max_runs=None (or a larger number) for every run of the window",
        PreviewTruncated,
        stacklevel=4,
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def schedule_all(
    session: Store,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    min_time: timedelta | None = None,
    min_runs: int | None = None,
    max_runs: int | None = None,
    *,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None = None,
    auto_scheduled: bool = True,
) -> pl.DataFrame:
    """Schedule runs for every active schedule of every deployment that is not paused, at once,
    as Prefect's scheduler service does.

    Each deployment gets exactly the runs :func:`schedule_runs` would give it with the
    same arguments (per schedule: the stop rule, ``max_runs`` lowered by the schedule's
    ``max_scheduled_runs``, the schedule's parameters), but the schedules are expanded
    in bulk and every run is inserted by one statement, in one transaction.

    Returns
    -------
    polars.DataFrame
        The runs inserted: ``id``, ``deployment_id``, ``scheduled_time`` and
        ``idempotency_key`` (already existing runs are not repeated).

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.deployments import create_deployment
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> for i in range(3):
    ...     _ = create_deployment(store, dk.Deployment(name=f"d{i}", flow_id=flow.id,
    ...         schedule={"interval": 3600 * (i + 1), "anchor_date": "2023-01-01T00:00:00Z"}))
    >>> start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    >>> schedule_all(store, start_time=start).height, schedule_all(store, start_time=start).height
    (9, 0)
    """
    window = plan_window(session, start_time, end_time, min_time, min_runs, max_runs)
    compiler = SqlCompiler()
    selected = _scheduled_sql(SCHEDULE_SOURCES, compiler, deployment_filter=deployment_filter)
    counted = (
        f"SELECT schedule, least(coalesce(max_scheduled_runs, $max_runs), $max_runs) AS cap, count(*) "
        f"FROM ({selected}) AS d GROUP BY ALL"
    )
    params = (compiler.params or {}) | {"max_runs": window.max_runs}
    # The schedules are expanded before the write lock is taken (a costly rule must not
    # block other writers); inside the transaction only pairs that appeared meanwhile are.
    before = [(text, cap) for text, cap, _ in session.cursor().execute(counted, params).fetchall()]
    early = _expanded(before, window)
    with session.transaction() as cur:
        rows = cur.execute(counted, params).fetchall()
        keys = [(text, cap) for text, cap, _ in rows]
        known = set(before)
        added = [key for key in keys if key not in known]
        position = {key: i for i, key in enumerate(keys)}
        parts, failed = [], {}
        for given, (dates, bad) in ((before, early), (added, _expanded(added, window))):
            now = pl.Series([position.get(key) for key in given], dtype=pl.Int64)
            parts.append(dates.with_columns(_key=now.gather(dates.get_column("_key"))).drop_nulls("_key"))
            failed |= {position[given[k]]: error for k, error in bad.items() if given[k] in position}
        if failed:
            texts = [text for text, _ in keys]
            named = (
                f"SELECT name, id, schedule FROM ({selected}) AS d WHERE list_contains($_failed, schedule)"
            )
            skipped = cur.sql(named, params=compiler.params | {"_failed": [texts[k] for k in failed]})
            warn_skipped("schedule_all", skipped.pl(), texts, failed)
        dates = pl.concat(parts)
        runs = sum(rows[key][2] * count for key, count in dates.get_column("_key").value_counts().iter_rows())
        if runs > MAX_RUNS_PER_CALL:
            raise ValueError(
                f"schedule_all would create {runs} runs, over the limit of {MAX_RUNS_PER_CALL} "
                "per call: narrow end_time / max_runs or pass a deployment_filter"
            )
        return insert_fleet_runs(
            session,
            selected,
            compiler.params,
            keys,
            dates,
            max_runs=window.max_runs,
            auto_scheduled=auto_scheduled,
        )


def _expanded(keys: list[tuple[str, int]], window: RunWindow) -> tuple[pl.DataFrame, dict[int, ValueError]]:
    """The runs in ``window`` of each (schedule text, run cap) pair of ``keys`` (``_key`` its
    position, ``scheduled_time``, ``iso``), and the errors of those that cannot be expanded."""
    parts = [pl.DataFrame(schema=_RUN_DATES_SCHEMA)]
    failed: dict[int, ValueError] = {}
    for cap in sorted({cap for _, cap in keys}):
        at = [i for i, (_, c) in enumerate(keys) if c == cap]
        lazy_part, bad = _window_dates([keys[i][0] for i in at], dataclasses.replace(window, max_runs=cap))
        failed |= {at[k]: error for k, error in bad.items()}
        part = lazy_part.collect(engine=POLARS_ENGINE)
        parts.append(part.with_columns(_key=pl.Series(at, dtype=pl.Int64).gather(part.get_column("_key"))))
    return pl.concat(parts, how="diagonal_relaxed").select(_RUN_DATES_SCHEMA.names()), failed


_SPARE_DATES = 8
"""Dates expanded beyond ``min_runs`` on the first pass (enough for the stop rule of most
schedules; the others are expanded again in full)."""


def _window_dates(texts: list[str], window: RunWindow) -> tuple[pl.LazyFrame, dict[int, ValueError]]:
    """Each distinct schedule's runs in the window, by Prefect's stop rule (see ``RunWindow.dates``),
    with each time's ISO text in the schedule's zone.

    Every deployment with the same schedule gets the same dates, so the rule is applied
    per schedule. A first pass takes ``min_runs + 8`` dates per schedule; only a
    schedule that filled that cap while its last date is still before
    ``start + min_time`` (the rule cannot have fired yet) is expanded again, up to
    ``max_runs``. The result equals expanding every schedule up to ``max_runs``.
    Schedules that cannot be expanded are left out and returned with their errors, by key.
    """
    first = min(window.max_runs, window.min_runs + _SPARE_DATES)
    dates, failed = expand_checked(texts, window.start, window.end, first)
    threshold = window.start + window.min_time
    if first < window.max_runs:
        last = dates.group_by("_key").agg(n=pl.len(), last=pl.col("scheduled_time").last())
        short = last.filter((pl.col("n") == first) & (pl.col("last") < threshold)).get_column("_key")
        if not short.is_empty():
            more, more_failed = expand_checked(
                [texts[key] for key in short], window.start, window.end, window.max_runs
            )
            failed |= {short[key]: error for key, error in more_failed.items()}
            more = more.with_columns(_key=short.gather(more.get_column("_key")))
            dates = pl.concat([dates.filter(~pl.col("_key").is_in(short.implode())), more])
    rank = pl.int_range(1, pl.len() + 1).over("_key")
    enough = (rank >= window.min_runs) & (pl.col("scheduled_time") >= threshold)
    stop = pl.when(enough).then(rank).otherwise(None).min().over("_key")
    return (
        dates.lazy()
        .sort("_key", "scheduled_time")
        .filter(stop.is_null() | (rank <= stop))
        .select("_key", "scheduled_time", iso=iso_text(pl.col("local_time"), pl.col("scheduled_time")))
    ), failed


MAX_RUNS_PER_CALL = 5_000_000
"""Most runs one ``schedule_all`` call inserts (bounds memory and transaction size)."""

MAX_PREVIEW_WINDOW = timedelta(days=366)
MAX_PREVIEW_RUNS = 100_000_000
"""The largest explicit ``max_runs`` of ``preview_runs`` (a secondly schedule for a year has
31.6 million runs); ``None`` means every run."""
"""Longest window ``preview_runs`` expands (bounds memory on large fleets)."""


def _scheduled_deployments(
    session: Store, include_inactive: bool, **filters: Unpack[FleetFilters]
) -> pl.DataFrame:
    """One row per schedule of the selected deployments, with their flow, queue and pool names."""
    compiler = SqlCompiler()
    query = _scheduled_sql(SCHEDULED_DEPLOYMENTS, compiler, include_inactive=include_inactive, **filters)
    return session.cursor().sql(query, params=compiler.params or None).pl()


def _scheduled_sql(
    base: sqlglot.exp.Select,
    compiler: SqlCompiler,
    *,
    include_inactive: bool = False,
    **filters: Unpack[FleetFilters],
) -> str:
    """SQL of ``base`` (deployments ``d`` joined with their schedules ``sc``) restricted by the
    filters and, unless ``include_inactive``, to active schedules of deployments not paused;
    values bound through ``compiler``."""
    query = filtered(base, compiler, **filters)
    if not include_inactive:
        query = query.where("sc.active AND NOT d.paused", copy=False)
    return query.sql("duckdb")


_SCHEDULE_COUNT = "(SELECT count(*) FROM deployment_schedule AS c WHERE c.deployment_id = d.id)"

SCHEDULE_SOURCES = sqlglot.parse_one(
    f"""
    SELECT d.*, sc.id AS schedule_id, sc.schedule, sc.max_scheduled_runs,
        sc.parameters AS schedule_parameters, {_SCHEDULE_COUNT} AS schedule_count
    FROM deployment AS d
    JOIN deployment_schedule AS sc ON sc.deployment_id = d.id
    """,
    dialect="duckdb",
)
"""Each (deployment, schedule) pair, with what ``insert_fleet_runs`` needs."""

SCHEDULED_DEPLOYMENTS = sqlglot.parse_one(
    f"""
    SELECT d.id, d.name AS deployment_name, f.name AS flow_name, d.work_queue_name,
        p.name AS work_pool_name, CAST(sc.id AS VARCHAR) AS schedule_id,
        {SCHEDULE_KIND_SQL.format("sc.schedule")} AS schedule_type, sc.schedule,
        sc.active AND NOT d.paused AS will_run
    FROM deployment AS d
    JOIN deployment_schedule AS sc ON sc.deployment_id = d.id
    JOIN flow AS f ON f.id = d.flow_id
    LEFT JOIN work_queue AS q ON q.id = d.work_queue_id
    LEFT JOIN work_pool AS p ON p.id = q.work_pool_id
    """,
    dialect="duckdb",
)
"""Each (deployment, schedule) pair, with the names a preview shows."""

_RUN_DATES_SCHEMA = pl.Schema(
    {"_key": pl.Int64(), "scheduled_time": pl.Datetime("us", "UTC"), "iso": pl.String()}
)
