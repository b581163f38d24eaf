"""``missed_runs`` and ``late_runs``: the runs that should have happened and did not (yet)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Unpack
from uuid import uuid4

import polars as pl

from deploykit.history import _args
from deploykit.history._query import UNSTARTED_WAITING, HistoryQuery, in_list
from deploykit.models import FleetFilters, takes_filters
from deploykit.scheduling import window_dates
from deploykit.store import Store

_MISSED_SQL = """
SELECT s.deployment_id, d.name AS deployment_name, f.name AS flow_name, s.schedule_id, e.scheduled_time
FROM schedules AS s
JOIN {keys} AS k ON k.schedule = s.schedule
JOIN {dates} AS e ON e._key = k._key
JOIN deployment AS d ON d.id = s.deployment_id
LEFT JOIN flow AS f ON f.id = d.flow_id
ANTI JOIN (
    SELECT deployment_id, expected_start_time FROM flow_run
    WHERE expected_start_time >= {since} AND expected_start_time < {until}
) AS fr ON fr.deployment_id = s.deployment_id AND fr.expected_start_time = e.scheduled_time
ORDER BY e.scheduled_time, flow_name, deployment_name, s.deployment_id, s.schedule_id
"""
"""The missed dates: ``deployment_id`` stays a UUID throughout (joined, compared, sorted as
UUIDs, which sort as their text) and becomes text only in the export to Polars."""

_LATE_SQL = """
SELECT CAST(fr.id AS VARCHAR) AS flow_run_id, fr.name AS flow_run_name,
    CAST(fr.deployment_id AS VARCHAR) AS deployment_id, sel.name AS deployment_name, f.name AS flow_name,
    fr.state_type, fr.state_name, fr.expected_start_time, runs.lateness,
    coalesce(wq.name, fr.work_queue_name) AS work_queue_name, wp.name AS work_pool_name,
    wq.is_paused AS work_queue_paused, wp.is_paused AS work_pool_paused
FROM runs JOIN flow_run AS fr ON fr.id = runs.id
JOIN sel ON sel.id = fr.deployment_id
LEFT JOIN flow AS f ON f.id = sel.flow_id
LEFT JOIN work_queue AS wq ON wq.id = coalesce(fr.work_queue_id, sel.work_queue_id)
LEFT JOIN work_pool AS wp ON wp.id = wq.work_pool_id
WHERE runs.start_time IS NULL AND runs.state_type IN {waiting} AND runs.lateness > {threshold}
ORDER BY runs.lateness DESC, fr.expected_start_time, fr.id
"""


@takes_filters()
def missed_runs(
    session: Store,
    since: datetime,
    until: datetime,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """Dates in ``[since, until)`` that a schedule gave and no flow run took.

    A date is missed when an active schedule of a selected deployment that is not
    paused gives it (SPEC.md section 4, every date in the window) and no flow run of
    that deployment has exactly that ``expected_start_time``: a scheduler outage, a
    paused queue whose runs were never created. Pauses are not kept in history, so a
    deployment paused now reports no missed dates at all.

    Parameters
    ----------
    session
        The store.
    since, until
        The window, timezone-aware.
    flow_filter, flow_run_filter, task_run_filter, deployment_filter, work_pool_filter, work_queue_filter
        Select deployments exactly as :func:`deploykit.models.deployments.read_deployments` does.

    Returns
    -------
    polars.DataFrame
        ``deployment_id``, ``deployment_name``, ``flow_name``, ``schedule_id`` (null for
        a deployment's single 2.10 schedule) and ``scheduled_time`` (UTC), by time.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models import deployments, flows
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id,
    ...     schedule=dk.CronSchedule(cron="0 2 * * *")))
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> _ = deployments.schedule_runs(store, dep.id, start_time=start, max_runs=2)
    >>> missed = missed_runs(store, start, datetime(2024, 1, 4, tzinfo=timezone.utc))
    >>> [t.isoformat() for t in missed["scheduled_time"]]
    ['2024-01-03T02:00:00+00:00']
    """
    since, until = _args.closed_window(since, until)
    query = HistoryQuery(filters)
    schedules = _schedules(query)
    texts = query.frame(session, f"{schedules}SELECT DISTINCT schedule FROM schedules ORDER BY schedule")
    keys = texts.with_columns(_key=pl.int_range(pl.len(), dtype=pl.Int64))
    dates = _window_dates(texts.get_column("schedule").to_list(), since, until)
    names = (f"_missed_keys_{uuid4().hex}", f"_missed_dates_{uuid4().hex}")
    with session.hold():  # one attachment of a file store, so the registered frames stay visible
        cursor = session.cursor()
        cursor.register(names[0], keys)
        cursor.register(names[1], dates)
        try:
            sql = schedules + _MISSED_SQL.format(
                keys=names[0], dates=names[1], since=query.param(since), until=query.param(until)
            )
            return query.frame(session, sql)
        finally:
            for name in names:
                cursor.unregister(name)


def _schedules(query: HistoryQuery) -> str:
    """``WITH sel AS (...), schedules AS (...)``: ``deployment_id``, ``schedule_id``,
    ``schedule`` (JSON) of every active schedule of a selected deployment that is not paused.

    The one place that knows where schedules live: table ``deployment_schedule``.
    ``schedule_id`` names the schedule of a deployment with several (as Prefect 3's
    idempotency key does); a deployment with one schedule keeps the 2.10 answer, null.
    """
    return (
        f"WITH sel AS ({query.selected}),\n"
        "schedules AS (SELECT d.id AS deployment_id, CASE WHEN (SELECT count(*) "
        "FROM deployment_schedule AS c WHERE c.deployment_id = d.id) > 1 "
        "THEN CAST(s.id AS VARCHAR) END AS schedule_id, s.schedule\n"
        "    FROM deployment AS d JOIN sel ON sel.id = d.id\n"
        "    JOIN deployment_schedule AS s ON s.deployment_id = d.id\n"
        "    WHERE s.active AND NOT d.paused)\n"
    )


def _window_dates(texts: list[str], since: datetime, until: datetime) -> pl.DataFrame:
    """``_key`` (position in ``texts``) and ``scheduled_time``: every date of each schedule
    in ``[since, until)``, each distinct schedule text expanded once however many
    deployments share it (the fleet's one window walker, ``window_dates``). A schedule
    that cannot be expanded raises its error, as the expansion does."""
    dates, _, failed = window_dates(texts, since, until, None)
    for error in failed.values():
        raise error
    return dates.filter(pl.col("scheduled_time") < until).select("_key", "scheduled_time")


@takes_filters()
def late_runs(
    session: Store,
    *,
    as_of: datetime | None = None,
    threshold: timedelta | float = timedelta(seconds=15),
    since: datetime | None = None,
    until: datetime | None = None,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """SCHEDULED / PENDING runs not started whose lateness at ``as_of`` exceeds ``threshold``.

    Lateness is ``as_of - expected_start_time`` (SPEC.md section 7); 15 s is when
    Prefect's late-runs service marks a run Late. Each run comes with its work queue
    and pool and whether either is paused: the first thing to check.

    Parameters
    ----------
    session
        The store.
    as_of
        "Now" (timezone-aware; default: now).
    threshold
        Lateness a run must exceed (a timedelta or seconds).
    since, until
        The window on expected start time, timezone-aware; None leaves that end open.
    flow_filter, flow_run_filter, task_run_filter, deployment_filter, work_pool_filter, work_queue_filter
        Select deployments exactly as :func:`deploykit.models.deployments.read_deployments` does.

    Returns
    -------
    polars.DataFrame
        ``flow_run_id``, ``flow_run_name``, ``deployment_id``, ``deployment_name``,
        ``flow_name``, ``state_type``, ``state_name``, ``expected_start_time``,
        ``lateness`` (seconds), ``work_queue_name``, ``work_pool_name``,
        ``work_queue_paused``, ``work_pool_paused``; latest first.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models import deployments, flows
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id,
    ...     work_queue_name="etl", schedule=dk.CronSchedule(cron="0 2 * * *")))
    >>> _ = deployments.schedule_runs(store, dep.id, start_time=start, max_runs=3)
    >>> late = late_runs(store, as_of=datetime(2024, 1, 2, 3, tzinfo=timezone.utc))
    >>> late.select("lateness", "work_queue_name", "work_queue_paused").rows()
    [(90000.0, 'etl', False), (3600.0, 'etl', False)]
    """
    since, until = _args.window(since, until)
    as_of = _args.as_of_or_now(as_of)
    seconds = _args.threshold_seconds(threshold, "threshold")
    query = HistoryQuery(filters)
    runs = query.runs(since=since, until=until, as_of=as_of)
    sql = runs + _LATE_SQL.format(waiting=in_list(UNSTARTED_WAITING), threshold=query.param(seconds))
    return query.frame(session, sql)
