"""``deployment_health``: one row per deployment, what its runs did (SPEC section 7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Unpack

import polars as pl

from deploykit._time_units import epoch_micros
from deploykit.history import _args
from deploykit.history._query import UNSTARTED_WAITING, HistoryQuery, in_list
from deploykit.models import FleetFilters, takes_filters
from deploykit.store import STATE_AGGREGATES, STREAK_SQL, Store

_RAW_SQL = """
agg AS (
    SELECT deployment_id, {aggregates},
        count(*) FILTER (
            WHERE start_time IS NULL AND state_type IN {waiting} AND lateness > {threshold}
        ) AS late_now
    FROM runs GROUP BY deployment_id
),
{streak},
raw AS (
    SELECT a.deployment_id, a.runs, a.completed, a.failed, a.crashed, a.cancelled, a.terminal,
        a.dq, a.lq, a.last_state_type, a.last_start_time, a.late_now,
        coalesce(s.failure_streak, 0) AS failure_streak
    FROM agg AS a LEFT JOIN streak AS s ON s.deployment_id = a.deployment_id
),
"""
"""Each deployment's record computed from its runs (all of them, or the stale ones')."""

_ROLLED_SQL = """
rolled AS (
    SELECT r.*,
        list_transform(list_filter(r.waiting, lambda x: x < {as_of}), lambda x: ({as_of} - x) / 1e6) AS late
    FROM run_rollup_deployment AS r
    WHERE r.deployment_id NOT IN (SELECT deployment_id FROM run_rollup_stale)
),
health AS (
    SELECT deployment_id, runs, completed, failed, crashed, cancelled, terminal,
        [duration_p50, duration_p95] AS dq,
        CASE WHEN len(late) = 0 THEN [lateness_p50, lateness_p95]
            ELSE list_aggregate(list_concat(started_lateness, late), 'quantile_cont', [0.5, 0.95]) END AS lq,
        last_state_type, last_start_time, len(list_filter(late, lambda x: x > {threshold})) AS late_now,
        failure_streak
    FROM rolled
    UNION ALL BY NAME SELECT * FROM raw
)
"""
"""Each deployment's record from the rollups: the values that do not depend on ``as_of``
as stored; the lateness of its runs still waiting at ``as_of`` merged into its started
runs' sorted lateness for the percentiles; the stale deployments from their runs."""

_HEALTH_SQL = """
SELECT CAST(sel.id AS VARCHAR) AS deployment_id, f.name AS flow_name, sel.name AS deployment_name,
    coalesce(a.runs, 0) AS runs, coalesce(a.completed, 0) AS completed,
    coalesce(a.failed, 0) AS failed, coalesce(a.crashed, 0) AS crashed,
    coalesce(a.cancelled, 0) AS cancelled,
    CASE WHEN a.terminal > 0 THEN a.completed / a.terminal END AS success_rate,
    coalesce(a.failure_streak, 0) AS failure_streak,
    a.last_state_type,
    a.dq[1] AS duration_p50, a.dq[2] AS duration_p95,
    a.lq[1] AS lateness_p50, a.lq[2] AS lateness_p95,
    coalesce(a.late_now, 0) AS late_now,
    CASE WHEN coalesce(a.failure_streak, 0) > 0 THEN 'failing'
        WHEN coalesce(a.late_now, 0) > 0 THEN 'late'
        WHEN coalesce(a.runs, 0) = 0 THEN 'no runs'
        ELSE 'healthy' END AS status,
    a.last_start_time,
    coalesce(wq.name, sel.work_queue_name) AS work_queue_name, wp.name AS work_pool_name
FROM sel
LEFT JOIN flow AS f ON f.id = sel.flow_id
LEFT JOIN health AS a ON a.deployment_id = sel.id
LEFT JOIN work_queue AS wq ON wq.id = sel.work_queue_id
LEFT JOIN work_pool AS wp ON wp.id = wq.work_pool_id
ORDER BY flow_name, deployment_name, deployment_id
"""

ROLLUPS = True
"""Whether the calls the rollups answer exactly read them (tests switch it off to compare)."""

STATUSES = ("failing", "late", "no runs", "healthy")
"""Values of the ``status`` column, most urgent first."""


@takes_filters()
def deployment_health(
    session: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
    late_after: timedelta | float = timedelta(seconds=15),
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """Each selected deployment's run record in the window, one row per deployment.

    Counts are over the deployment's runs whose ``expected_start_time`` is in
    ``[since, until)`` (all its runs when both are None); runs of deleted deployments
    belong to no selected deployment and are not counted. Definitions follow SPEC.md
    section 7: ``success_rate`` = COMPLETED / terminal runs (null when none);
    ``failure_streak`` = the newest terminal runs (by expected start, ties by id) that
    FAILED or CRASHED, counted back to the newest other terminal run;
    ``last_state_type`` = the state of the most recently started run; percentiles are
    linear (numpy's default); ``late_now`` counts SCHEDULED / PENDING runs not started
    whose lateness at ``as_of`` exceeds ``late_after`` (15 s, Prefect's Late rule).

    Parameters
    ----------
    session
        The store.
    since, until
        The window on expected start time, timezone-aware; None leaves that end open.
    as_of
        When "now" is for unstarted runs' lateness (timezone-aware; default: now).
    late_after
        Lateness beyond which an unstarted run is late (a timedelta or seconds).
    flow_filter, flow_run_filter, task_run_filter, deployment_filter, work_pool_filter, work_queue_filter
        Select deployments exactly as :func:`deploykit.models.deployments.read_deployments` does.

    Returns
    -------
    polars.DataFrame
        ``deployment_id``, ``flow_name``, ``deployment_name``, ``runs``, ``completed``,
        ``failed``, ``crashed``, ``cancelled``, ``success_rate``, ``failure_streak``,
        ``last_state_type``, ``duration_p50``, ``duration_p95``, ``lateness_p50``,
        ``lateness_p95``, ``late_now``, then ``status`` (``failing`` when the newest
        terminal run failed, else ``late`` when a run is late now, ``no runs`` when the
        window holds none, else ``healthy``), ``last_start_time``, ``work_queue_name``
        and ``work_pool_name``; by flow and deployment name. Seconds throughout.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models import deployments, flow_runs, flows
    >>> t = lambda h, m=0: datetime(2024, 1, 1, h, m, tzinfo=timezone.utc)
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id))
    >>> for h, state in [(1, "COMPLETED"), (2, "FAILED"), (3, "CRASHED")]:
    ...     _ = flow_runs.create_flow_run(store, dk.FlowRun(
    ...         flow_id=flow.id, deployment_id=dep.id, state_type=state,
    ...         expected_start_time=t(h), start_time=t(h, 1), end_time=t(h, 11)))
    >>> health = deployment_health(store, as_of=t(4))
    >>> health.select("runs", "success_rate", "failure_streak", "duration_p50", "status").row(0)
    (3, 0.3333333333333333, 2, 600.0, 'failing')
    """
    since, until = _args.window(since, until)
    as_of = _args.as_of_or_now(as_of)
    threshold = _args.threshold_seconds(late_after, "late_after")
    query = HistoryQuery(filters)
    rolled = ROLLUPS and since is None and until is None
    runs = query.runs(since=since, until=until, as_of=as_of, joined=False, stale_only=rolled)
    raw = _RAW_SQL.format(
        aggregates=STATE_AGGREGATES,
        streak=STREAK_SQL,
        waiting=in_list(UNSTARTED_WAITING),
        threshold=query.param(threshold),
    )
    if rolled:
        health = _ROLLED_SQL.format(as_of=query.param(epoch_micros(as_of)), threshold=query.param(threshold))
    else:
        health = "health AS (SELECT * FROM raw)\n"
    return query.frame(session, runs + "," + raw + health + _HEALTH_SQL)
