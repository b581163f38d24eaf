"""``run_metrics``: duration or lateness statistics per group and period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Unpack

import polars as pl

from deploykit._time_units import DAY_US, EPOCH, epoch_micros
from deploykit.history import _args
from deploykit.history._query import HistoryQuery
from deploykit.models import FleetFilters, takes_filters
from deploykit.store import Store

QUANTILES = (0.5, 0.9, 0.95, 0.99)
_OUTER_SQL = {"deployment_id": "CAST(deployment_id AS VARCHAR) AS deployment_id"}
"""Group keys converted after grouping (cheaper on groups than on runs)."""


@takes_filters()
def run_metrics(
    session: Store,
    metric: str,
    *,
    by: str | Sequence[str] | None = None,
    every: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """Statistics of ``metric`` over the selected deployments' runs, per group and period.

    ``duration`` counts runs with both a start and an end; ``lateness`` counts started
    runs and SCHEDULED / PENDING runs still waiting at ``as_of`` (SPEC.md section 7).
    Percentiles interpolate linearly between closest ranks (numpy's default, Polars'
    ``quantile(q, "linear")``). Runs of deleted deployments are not counted.

    Parameters
    ----------
    session
        The store.
    metric
        ``"duration"`` or ``"lateness"``.
    by
        A column or list of columns to group by: ``deployment_id``, ``flow_name``,
        ``work_pool_name``, ``work_queue_name``, ``state_type`` (None: one group).
    every
        A Polars duration string (``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``): adds a
        ``period`` column, each run's expected start truncated as Polars'
        ``dt.truncate(every)`` does in UTC.
    since, until
        The window on expected start time, timezone-aware; None leaves that end open.
    as_of
        "Now" for the lateness of runs still waiting (timezone-aware; default: now).
    flow_filter, flow_run_filter, task_run_filter, deployment_filter, work_pool_filter, work_queue_filter
        Select deployments exactly as :func:`deploykit.models.deployments.read_deployments` does.

    Returns
    -------
    polars.DataFrame
        The ``by`` columns, ``period`` (with ``every``), then ``count``, ``mean``,
        ``min``, ``p50``, ``p90``, ``p95``, ``p99``, ``max`` in seconds, sorted by the
        group columns and period. Only groups with at least one value appear; with no
        ``by`` and no ``every`` there is always one row (``count`` 0 when empty).

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models import deployments, flow_runs, flows
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id))
    >>> t = lambda d, m=0: datetime(2024, 1, d, 0, m, tzinfo=timezone.utc)
    >>> for day, minutes in [(1, 1), (1, 3), (2, 10)]:
    ...     _ = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id,
    ...         state_type="COMPLETED", expected_start_time=t(day), start_time=t(day),
    ...         end_time=t(day, minutes)))
    >>> run_metrics(store, "duration", every="1d").select("period", "count", "p50").rows()
    [(datetime.datetime(2024, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 2, 120.0),
     (datetime.datetime(2024, 1, 2, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 1, 600.0)]
    """
    metric = _args.metric(metric)
    groups = _args.group_columns(by)
    bucket = _args.every(every)
    since, until = _args.window(since, until)
    as_of = _args.as_of_or_now(as_of)
    query = HistoryQuery(filters)
    if ROLLUPS and metric == "duration" and groups == ["deployment_id"] and _daily(bucket, since, until):
        return _from_day_rollup(session, query, since, until, as_of)
    return query.frame(session, _metrics_sql(query, metric, groups, bucket, since, until, as_of))


ROLLUPS = True
"""Whether the calls the day rollup answers exactly read it (tests switch it off to compare)."""


def _metrics_sql(
    query: HistoryQuery,
    metric: str,
    groups: list[str],
    bucket: _args.Every | None,
    since: datetime | None,
    until: datetime | None,
    as_of: datetime,
    *,
    stale_only: bool = False,
) -> str:
    """The statement of :func:`run_metrics` over the runs (``stale_only``: of the
    deployments whose rollups are stale)."""
    keys, key_names, shown = _grouping(query, groups, bucket)
    quantiles = ", ".join(str(q) for q in QUANTILES)
    stats = [
        f"count({metric}) AS count",
        f"avg({metric}) AS mean",
        f"min({metric}) AS min",
        f"quantile_cont({metric}, [{quantiles}]) AS q",
        f"max({metric}) AS max",
    ]
    outputs = [
        *shown,
        "count",
        "mean",
        "min",
        *(f"q[{i + 1}] AS p{round(q * 100)}" for i, q in enumerate(QUANTILES)),
        "max",
    ]
    runs = query.runs(since=since, until=until, as_of=as_of, names=_names(groups), stale_only=stale_only)
    return runs + (
        f"SELECT {', '.join(outputs)}\n"
        f"FROM (SELECT {', '.join([*keys, *stats])}\n"
        f"    FROM runs WHERE {metric} IS NOT NULL{' GROUP BY ALL' if key_names else ''}) AS g\n"
        + _order(key_names)
    )


def _daily(bucket: _args.Every | None, since: datetime | None, until: datetime | None) -> bool:
    """Whether the periods are UTC days and the window holds whole days (or is open)."""
    return (
        bucket is not None
        and bucket.micros == DAY_US
        and bucket.origin == EPOCH
        and all(end is None or epoch_micros(end) % DAY_US == 0 for end in (since, until))
    )


_DAY_ROWS = """SELECT pos, dep, day AS period, count, mean, min,
    p50, p90, p95, p99, max FROM run_rollup_day WHERE {where}"""

_DAY_IDS = """SELECT i.dep, i.deployment_id,
    CAST(i.deployment_id AS UUID) IN (SELECT deployment_id FROM run_rollup_stale)
        OR CAST(i.deployment_id AS UUID) NOT IN (SELECT id FROM sel) AS left_out
FROM run_rollup_day_ids AS i ORDER BY i.dep"""


def _from_day_rollup(
    session: Store, query: HistoryQuery, since: datetime | None, until: datetime | None, as_of: datetime
) -> pl.DataFrame:
    """Duration by deployment and UTC day from ``run_rollup_day``, in one snapshot.

    Its rows are read by a plain scan, which gives them in the order they were written
    (``pos``; sorted by ``pos`` should it not), without the deployments left out (stale
    ones, deleted or not selected ones), each deployment's id taken from the 100,000-row
    ``run_rollup_day_ids`` by its number; the stale selected deployments are computed
    from their runs and merged in order by deployment id (each deployment comes from one
    side).
    """
    where = ["TRUE"]
    if since is not None:
        where.append(f"day >= {query.param(epoch_micros(since))}")
    if until is not None:
        where.append(f"day < {query.param(epoch_micros(until))}")
    with session.transaction():
        rows = query.frame(session, _DAY_ROWS.format(where=" AND ".join(where)))
        ids = query.frame(session, f"WITH sel AS ({query.selected})\n{_DAY_IDS}")
        stale = query.frame(
            session,
            _metrics_sql(
                query, "duration", ["deployment_id"], _args.every("1d"), since, until, as_of, stale_only=True
            ),
        )
    if not (rows["pos"].diff().drop_nulls() > 0).all():
        rows = rows.sort("pos")
    left_out = ids.filter("left_out")["dep"]
    if left_out.len():
        rows = rows.filter(~pl.col("dep").is_in(left_out.implode()))
    named = (
        ids["deployment_id"].gather(rows["dep"]) if ids.height else pl.Series("deployment_id", [], pl.String)
    )
    period = pl.col("period").cast(pl.Datetime("us", "UTC"))  # epoch microseconds: no copy
    rows = rows.select(named, period, pl.exclude("pos", "dep", "period"))
    return _merged_by_deployment(rows, stale) if stale.height else rows


def _merged_by_deployment(rows: pl.DataFrame, stale: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with each of ``stale``'s deployments put in its place by deployment id (both
    sorted; each deployment is on one side): the few stale groups are cut in between
    zero-copy slices of ``rows`` rather than merging every row (``merge_sorted`` copies
    all of them)."""
    groups = stale.partition_by("deployment_id", maintain_order=True)
    keys = pl.Series([group["deployment_id"][0] for group in groups], dtype=pl.String)
    cuts = rows["deployment_id"].search_sorted(keys, side="left").to_list()
    pieces, start = [], 0
    for cut, group in zip(cuts, groups, strict=True):
        pieces += [rows.slice(start, cut - start), group]
        start = cut
    pieces.append(rows.slice(start))
    return pl.concat(pieces, rechunk=False)


@takes_filters()
def run_counts(
    session: Store,
    *,
    by: str | Sequence[str] | None = "state_type",
    every: str | None = "1d",
    since: datetime | None = None,
    until: datetime | None = None,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """How many runs the selected deployments had, per group and period (all states).

    ``by``, ``every``, the window and the filters mean what they mean for
    :func:`run_metrics`; the default counts runs per state type and day, the data of an
    activity heatmap.

    Returns
    -------
    polars.DataFrame
        The ``by`` columns, ``period`` (with ``every``) and ``runs``, sorted; only
        non-empty groups appear.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models import deployments, flow_runs, flows
    >>> store = dk.Store()
    >>> flow = flows.create_flow(store, dk.Flow(name="etl"))
    >>> dep = deployments.create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id))
    >>> from datetime import datetime, timezone
    >>> for day, state in [(1, "COMPLETED"), (1, "FAILED"), (2, "FAILED")]:
    ...     _ = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id,
    ...         state_type=state, expected_start_time=datetime(2024, 1, day, tzinfo=timezone.utc)))
    >>> [(s, p.day, n) for s, p, n in run_counts(store).rows()]
    [('COMPLETED', 1, 1), ('FAILED', 1, 1), ('FAILED', 2, 1)]
    """
    groups = _args.group_columns(by)
    bucket = _args.every(every)
    since, until = _args.window(since, until)
    query = HistoryQuery(filters)
    keys, key_names, shown = _grouping(query, groups, bucket)
    runs = query.runs(since=since, until=until, as_of=_args.as_of_or_now(None), names=_names(groups))
    sql = runs + (
        f"SELECT {', '.join([*shown, 'runs'])}\n"
        f"FROM (SELECT {', '.join([*keys, 'count(*) AS runs'])} FROM runs"
        f"{' GROUP BY ALL' if key_names else ''}) AS g\n" + _order(key_names)
    )
    return query.frame(session, sql)


def _order(key_names: list[str]) -> str:
    """ORDER BY the group keys as grouped (a UUID sorts as its text; an integer period
    as its timestamp): cheaper than sorting the converted output columns."""
    return "ORDER BY " + ", ".join(f"g.{k} NULLS LAST" for k in key_names) if key_names else ""


def _names(groups: list[str]) -> tuple[str, ...]:
    """The group columns that need a join (names of flows, queues, pools)."""
    return tuple(g for g in groups if g in ("flow_name", "work_pool_name", "work_queue_name"))


def _grouping(
    query: HistoryQuery, groups: list[str], bucket: _args.Every | None
) -> tuple[list[str], list[str], list[str]]:
    """The group keys (``by`` columns, then ``period``): their SQL over the runs, their
    names, and the SQL that turns each group's key into its output column.

    The period is grouped as an integer (microseconds since the epoch, or months since
    January 1970) computed with integer arithmetic, and becomes a timestamp only once
    per group: DuckDB's calendar functions on TIMESTAMPTZ cost several times more.
    """
    keys = list(groups)
    shown = [_OUTER_SQL.get(g, g) for g in groups]
    if bucket is not None:
        if bucket.months is not None:
            wall = "make_timestamp(epoch_us(expected_start_time))"
            months = f"((year({wall}) - 1970) * 12 + month({wall}) - 1)"
            keys.append(f"{_floored(months, query.param(bucket.months))} AS period")
            year = f"(1970 + (period - {_mod('period', '12')}) // 12)"
            first_day = f"make_timestamp({year}, {_mod('period', '12')} + 1, 1, 0, 0, 0)"
            shown.append(f"CAST({first_day} AS TIMESTAMPTZ) AS period")
        else:
            origin = query.param(epoch_micros(bucket.origin))
            offset = f"(epoch_us(expected_start_time) - {origin})"
            keys.append(f"{origin} + {_floored(offset, query.param(bucket.micros))} AS period")
            shown.append("make_timestamptz(period) AS period")
    return keys, [*groups, *(["period"] if bucket is not None else [])], shown


def _mod(value: str, step: str) -> str:
    """``value`` modulo ``step``, in ``[0, step)`` also for negative values (floor semantics)."""
    return f"((({value}) % {step}) + {step}) % {step}"


def _floored(value: str, step: str) -> str:
    """The largest multiple of ``step`` not above ``value`` (integers)."""
    return f"({value} - {_mod(value, step)})"
