"""``recent_runs``: the runs themselves, newest first, with duration and lateness."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

import polars as pl

from deploykit.history import _args
from deploykit.history._query import HistoryQuery
from deploykit.models import FleetFilters, takes_filters
from deploykit.store import Store

_RECENT_SQL = """
SELECT CAST(runs.id AS VARCHAR) AS flow_run_id, fr.name AS flow_run_name,
    CAST(runs.deployment_id AS VARCHAR) AS deployment_id, sel.name AS deployment_name,
    runs.state_type, fr.state_name, runs.expected_start_time, runs.start_time, runs.end_time,
    runs.duration, runs.lateness
FROM runs JOIN flow_run AS fr ON fr.id = runs.id JOIN sel ON sel.id = runs.deployment_id
ORDER BY runs.expected_start_time DESC NULLS LAST, runs.id DESC
LIMIT {limit}
"""


@takes_filters()
def recent_runs(
    session: Store,
    *,
    limit: int = 200,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """The newest ``limit`` runs (by expected start, ties by id) of the selected deployments.

    ``limit`` is how many runs at most; the window, ``as_of`` and the six deployment
    filters (``flow_filter`` ... ``work_queue_filter``) mean what they mean for
    :func:`run_metrics`.

    Returns
    -------
    polars.DataFrame
        ``flow_run_id``, ``flow_run_name``, ``deployment_id``, ``deployment_name``,
        ``state_type``, ``state_name``, ``expected_start_time``, ``start_time``,
        ``end_time``, ``duration`` and ``lateness`` (seconds, SPEC.md section 7), newest first.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models import deployments, flow_runs, flows
    >>> t = lambda h: datetime(2024, 1, 1, h, tzinfo=timezone.utc)
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id))
    >>> for h in (1, 2, 3):
    ...     _ = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id,
    ...         state_type="COMPLETED", expected_start_time=t(h), start_time=t(h), end_time=t(h + 1)))
    >>> recent_runs(store, limit=2).select("state_type", "duration").rows()
    [('COMPLETED', 3600.0), ('COMPLETED', 3600.0)]
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit < 2**63:
        raise ValueError(f"limit must be a non-negative integer below 2**63, got {limit!r}")
    since, until = _args.window(since, until)
    as_of = _args.as_of_or_now(as_of)
    query = HistoryQuery(filters)
    runs = query.runs(since=since, until=until, as_of=as_of)
    return query.frame(session, runs + _RECENT_SQL.format(limit=query.param(limit)))
