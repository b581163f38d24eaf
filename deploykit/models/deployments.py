"""Deployment operations: the seed, ``prefect.server.models.deployments``, on DuckDB.

Every function takes the store first and runs as one transaction. Reads and counts
compile the six filter families into a single SQL statement (EXISTS subqueries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import polars as pl
import sqlglot

from deploykit._collect import STREAMING_ENGINE
from deploykit._errors import ObjectNotFoundError
from deploykit.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from deploykit.models import _queue_rules as rules
from deploykit.models._args import as_name, as_uuid, coerce_filter, coerce_model, non_negative
from deploykit.models._deployment_bulk import create_deployments
from deploykit.models._deployment_query import (
    COUNT_DEPLOYMENTS,
    ORDER_BY,
    SELECT_DEPLOYMENTS,
    SELECT_OVERVIEW,
    filtered,
)
from deploykit.models._fleet import MAX_PREVIEW_WINDOW, preview_runs, schedule_all
from deploykit.models._rows import db_value, fetch_model, update_sql
from deploykit.models._scheduled_runs import insert_deployment_runs
from deploykit.models.work_pools import read_work_pool_by_name
from deploykit.models.work_queues import (
    create_work_queue,
    ensure_work_queue_exists,
    read_work_queue_by_name,
)
from deploykit.models.writer import Writer, write_model
from deploykit.predicates import SqlCompiler
from deploykit.scheduling import plan_window
from deploykit.schemas.actions import DeploymentUpdate
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import Deployment, WorkQueue
from deploykit.schemas.schedules import cached_schedule
from deploykit.schemas.sorting import DeploymentSort
from deploykit.store import Store

_DELETE_SCHEDULED_RUNS = (
    "DELETE FROM flow_run WHERE deployment_id = $id AND state_type = 'SCHEDULED' {auto} RETURNING id"
)
_DELETE_TASK_RUNS = "DELETE FROM task_run WHERE list_contains($ids, flow_run_id)"


# --- create / update / delete -------------------------------------------------------------


def create_deployment(session: Store, deployment: Deployment) -> Deployment:
    """Upsert a deployment keyed on (flow_id, name).

    A new row stores every field; an existing row takes only the fields set on
    ``deployment`` and keeps its ``id``, ``created`` and ``created_by``. The work queue
    named by ``work_queue_name`` is ensured and linked, and the deployment's
    auto-scheduled runs still in SCHEDULED state are deleted (the schedule may have
    changed).

    Parameters
    ----------
    session
        The store.
    deployment
        The deployment to create or merge; its ``flow_id`` must name an existing flow.

    Returns
    -------
    Deployment
        The stored deployment, read back.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id, work_queue_name="etl"))
    >>> d2 = create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id, tags=["prod"]))
    >>> (d2.id == d.id, d2.tags, d2.work_queue_name, d2.work_queue_id is not None)
    (True, ['prod'], 'etl', True)
    """
    deployment = coerce_model(deployment, Deployment, "deployment")
    with session.transaction() as cur:
        existing = cur.execute(
            "SELECT work_queue_name FROM deployment WHERE flow_id = $flow_id AND name = $name",
            {"flow_id": deployment.flow_id, "name": deployment.name},
        ).fetchall()
        given = set(deployment.model_fields_set)
        queue_name = (
            existing[0][0] if existing and "work_queue_name" not in given else deployment.work_queue_name
        )
        if queue_name and "work_queue_id" not in given:
            queue_id = ensure_work_queue_exists(session, queue_name).id
            deployment = deployment.model_copy(update={"work_queue_id": queue_id})
            given.add("work_queue_id")
        write_model(
            Writer(cur),
            deployment,
            source="create_deployment",
            stamp=utc_now(),
            key=("flow_id", "name"),
            update=(given - _KEEP_ON_UPSERT) | {"updated"},
        )
        stored = fetch_model(
            cur,
            Deployment,
            "SELECT * FROM deployment WHERE name = $name",
            {"name": deployment.name},
            {"flow_id": deployment.flow_id},
        )
        if existing:
            _delete_scheduled_runs(session, stored.id, auto_only=True)  # type: ignore[union-attr]
        return stored  # type: ignore[return-value]


_KEEP_ON_UPSERT = frozenset({"id", "created", "created_by", "updated", "flow_id", "name"})
"""Fields an upsert never overwrites: identity, creation, and the (flow_id, name) key it matched on."""


def update_deployment(session: Store, deployment_id: UUID | str, deployment: DeploymentUpdate) -> bool:
    """Write the fields set on ``deployment`` to the deployment with this id.

    ``work_pool_name`` and ``work_queue_name`` pick the ``work_queue_id``: both given,
    that queue in that pool (created if missing); only a pool, the pool's default
    queue; only a queue name, that queue (ensured). Auto-scheduled runs still in
    SCHEDULED state are deleted.

    Returns
    -------
    bool
        True when a deployment was updated, False when the id does not exist.

    Raises
    ------
    ObjectNotFoundError
        ``work_pool_name`` names no pool (nothing is written).

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="nightly", flow_id=flow.id))
    >>> update_deployment(store, d.id, dk.DeploymentUpdate(tags=["prod"], work_queue_name="q1"))
    True
    >>> read_deployment(store, d.id).work_queue_name
    'q1'
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    update = coerce_model(deployment, DeploymentUpdate, "deployment")
    given = update.model_fields_set
    with session.transaction() as cur:
        if not cur.execute("SELECT 1 FROM deployment WHERE id = $id", {"id": dep_id}).fetchall():
            return False
        row: dict[str, Any] = {name: _update_value(update, name) for name in given - {"work_pool_name"}}
        queue_id = _queue_for_update(session, update.work_pool_name, update.work_queue_name)
        if queue_id is not None:
            row["work_queue_id"] = queue_id
        row |= {"updated": utc_now(), "id": dep_id}
        cur.execute(update_sql("deployment", [c for c in row if c != "id"]), row)
        _delete_scheduled_runs(session, dep_id, auto_only=True)
        return True


def delete_deployment(session: Store, deployment_id: UUID | str) -> bool:
    """Delete a deployment and all its runs still in SCHEDULED state.

    Runs in other states keep their history (their ``deployment_id`` stays).

    Examples
    --------
    >>> import deploykit as dk
    >>> store = dk.Store()
    >>> delete_deployment(store, "00000000-0000-0000-0000-000000000000")
    False
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    with session.transaction() as cur:
        _delete_scheduled_runs(session, dep_id, auto_only=False)
        deleted = cur.execute("DELETE FROM deployment WHERE id = $id RETURNING id", {"id": dep_id}).fetchall()
        return bool(deleted)


# --- reads --------------------------------------------------------------------------------


def read_deployment(session: Store, deployment_id: UUID | str) -> Deployment | None:
    """The deployment with this id, or ``None``.

    Examples
    --------
    >>> import deploykit as dk
    >>> read_deployment(dk.Store(), "00000000-0000-0000-0000-000000000000") is None
    True
    """
    return fetch_model(
        session.cursor(),
        Deployment,
        "SELECT * FROM deployment WHERE id = $id",
        {"id": as_uuid(deployment_id, "deployment_id")},
    )


def read_deployment_by_name(session: Store, name: str, flow_name: str) -> Deployment | None:
    """The deployment ``name`` of the flow ``flow_name``; never one of another flow.

    Examples
    --------
    >>> import deploykit as dk
    >>> read_deployment_by_name(dk.Store(), "nightly", "etl") is None
    True
    """
    name, flow_name = as_name(name, "name"), as_name(flow_name, "flow_name")
    cur = session.cursor()
    flow = cur.execute("SELECT id FROM flow WHERE name = $flow", {"flow": flow_name}).fetchone()
    if flow is None:
        return None
    # Two index lookups: a join, or a filter on both (flow_id, name), makes DuckDB scan.
    return fetch_model(
        cur, Deployment, "SELECT * FROM deployment WHERE name = $name", {"name": name}, {"flow_id": flow[0]}
    )


def read_deployments(
    session: Store,
    offset: int | None = None,
    limit: int | None = None,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
    sort: DeploymentSort = DeploymentSort.NAME_ASC,
) -> pl.DataFrame:
    """Deployments matching every given filter, sorted, then offset, then limited.

    ``flow_run_filter`` and ``task_run_filter`` select deployments with one flow run
    matching the first and having a task run matching the second; the queue and pool
    filters test the queue the deployment's ``work_queue_id`` refers to. Ties in the
    sort break by id, so paging is deterministic. Filters may be given as dicts.

    Returns
    -------
    polars.DataFrame
        One row per deployment: the model's fields (ids as strings, dicts as JSON) and
        ``schedule_type``.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> for name, tags in [("a", ["prod"]), ("b", []), ("c", ["prod", "ml"])]:
    ...     _ = create_deployment(store, dk.Deployment(name=name, flow_id=flow.id, tags=tags))
    >>> read_deployments(store, deployment_filter={"tags": {"all_": ["prod"]}})["name"].to_list()
    ['a', 'c']
    >>> read_deployments(store, sort="NAME_DESC", limit=1)["name"].to_list()
    ['c']
    """
    compiler = SqlCompiler()
    query = filtered(
        SELECT_DEPLOYMENTS,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=flow_run_filter,
        task_run_filter=task_run_filter,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    )
    query.set("order", ORDER_BY[DeploymentSort(sort)][0].copy())
    if offset is not None:
        query = query.offset(compiler.param(non_negative(offset, "offset")), copy=False)
    if limit is not None:
        query = query.limit(compiler.param(non_negative(limit, "limit")), copy=False)
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


def read_deployment_overview(
    session: Store,
    *,
    flow_filter: FlowFilter | Mapping[str, Any] | None = None,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None = None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None = None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """The selected deployments with the names views show beside them, by name then id.

    Columns: ``id``, ``name``, ``flow_name``, ``tags``, ``work_queue_name``,
    ``work_pool_name`` (of the queue ``work_queue_id`` points at), ``schedule_type``
    (``"cron" | "interval" | "rrule" | None``) and ``is_schedule_active``: what the CLI's
    and the widgets' summaries need, without SQL of their own.

    See Also
    --------
    read_deployments : every field of each deployment.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> _ = create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, schedule={"cron": "0 * * * *"},
    ...                                            work_queue_name="q"))
    >>> read_deployment_overview(store).select("flow_name", "work_pool_name", "schedule_type").rows()
    [('etl', 'default-agent-pool', 'cron')]
    """
    compiler = SqlCompiler()
    query = filtered(
        SELECT_OVERVIEW,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=None,
        task_run_filter=None,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    ).order_by("d.name", "d.id", copy=False)
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


def count_deployments(
    session: Store,
    flow_filter: FlowFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    work_pool_filter: WorkPoolFilter | None = None,
    work_queue_filter: WorkQueueFilter | None = None,
) -> int:
    """How many deployments ``read_deployments`` would return for these filters.

    Examples
    --------
    >>> import deploykit as dk
    >>> count_deployments(dk.Store(), flow_run_filter={"state": {"type": {"any_": ["FAILED"]}}})
    0
    """
    compiler = SqlCompiler()
    query = filtered(
        COUNT_DEPLOYMENTS,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=flow_run_filter,
        task_run_filter=task_run_filter,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    )
    return session.cursor().execute(query.sql("duckdb"), compiler.params or None).fetchall()[0][0]


# --- scheduling ---------------------------------------------------------------------------


def schedule_runs(
    session: Store,
    deployment_id: UUID | str,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    min_time: timedelta | None = None,
    min_runs: int | None = None,
    max_runs: int | None = None,
    auto_scheduled: bool = True,
) -> list[UUID]:
    """Create the deployment's next scheduled flow runs; return the ids newly inserted.

    Dates are walked from ``start_time`` (inclusive), at most ``max_runs`` of them and
    never past ``end_time``, stopping once ``min_runs`` are collected and the last is at
    least ``min_time`` after the start. Defaults come from ``session.schedule_settings``
    (3 runs, 100 runs, 1 hour, 100 days). Runs already scheduled for a date (same
    idempotency key) are not created again. A missing deployment, one without a
    schedule, or with an inactive schedule, gets nothing.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(
    ...     name="hourly", flow_id=flow.id, schedule={"cron": "0 * * * *"}))
    >>> start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    >>> len(schedule_runs(store, d.id, start_time=start)), len(schedule_runs(store, d.id, start_time=start))
    (3, 0)
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    window = plan_window(session, start_time, end_time, min_time, min_runs, max_runs)
    with session.transaction() as cur:
        row = cur.execute(_SCHEDULE_OF_DEPLOYMENT, {"id": dep_id}).fetchone()
        if row is None or row[1] is None or not row[2]:
            return []
        dates = window.dates(cached_schedule(row[1]))
        return insert_deployment_runs(session, dep_id, row[0], dates, auto_scheduled=auto_scheduled)


_SCHEDULE_OF_DEPLOYMENT = "SELECT flow_id, schedule, is_schedule_active FROM deployment WHERE id = $id"


# --- queue matching -------------------------------------------------------------------------


def check_work_queues_for_deployment(session: Store, deployment_id: UUID | str) -> pl.DataFrame:
    """The work queues that pick this deployment up, one row per queue.

    A queue matches when its filter's tags are a subset of the deployment's tags, its
    deployment ids (if any) include this one, and its flow runner types (if any) include
    the deployment's; a queue without a filter matches every deployment.

    Raises
    ------
    ObjectNotFoundError
        No deployment has this id.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.work_queues import create_work_queue
    >>> store = dk.Store()
    >>> _ = create_work_queue(store, dk.WorkQueue(name="prod-only", filter={"tags": ["prod"]}))
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="dev", flow_id=flow.id, tags=["dev"]))
    >>> check_work_queues_for_deployment(store, d.id)["name"].to_list()
    ['default']
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    rows = session.cursor().sql(_CHECK_QUEUES, params={"id": dep_id}).pl()
    if rows.is_empty():
        raise ObjectNotFoundError(f"deployment {dep_id} does not exist")
    return rows.filter(pl.col("id").is_not_null())


def queue_matches(
    session: Store,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None = None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None = None,
    *,
    sort: bool = False,
) -> pl.DataFrame:
    """Every (deployment, queue) pair with each matching rule's verdict, in one query.

    Columns: ``deployment_id``, ``deployment_name``, ``work_queue_id``,
    ``work_queue_name``, ``work_pool_name``, ``tags_match``, ``missing_tags``,
    ``deployment_id_match``, ``flow_runner_match``, ``assigned`` (the deployment's own
    ``work_queue_id``) and ``matches`` (all three rules hold). Rows come in no
    particular order unless ``sort`` (by deployment name, then pool, priority and queue
    name): sorting the full matrix of a large fleet costs more than computing it.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.work_queues import create_work_queue
    >>> store = dk.Store()
    >>> _ = create_work_queue(store, dk.WorkQueue(name="prod-only", filter={"tags": ["prod", "k8s"]}))
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> _ = create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, tags=["prod"]))
    >>> m = queue_matches(store)
    >>> m.filter(pl.col("work_queue_name") == "prod-only")["missing_tags"].to_list()
    [['k8s']]
    """
    compiler = SqlCompiler()
    query = _QUEUE_MATRIX.copy()
    dep_f = coerce_filter(deployment_filter, DeploymentFilter, "deployment_filter")
    queue_f = coerce_filter(work_queue_filter, WorkQueueFilter, "work_queue_filter")
    if dep_f is not None:
        query = query.where(compiler.compile(dep_f.as_predicate(), "d"), copy=False)
    if queue_f is not None:
        query = query.where(compiler.compile(queue_f.as_predicate(), "q"), copy=False)
    if sort:
        query = query.order_by(*_MATRIX_ORDER, copy=False)
    relation = session.cursor().sql(query.sql("duckdb"), params=compiler.params or None)
    return relation.pl(lazy=True).collect(engine=STREAMING_ENGINE)


_MATRIX_ORDER = ("d.name", "d.id", "q.work_pool_name", "q.priority", "q.name", "q.id")
_CHECK_QUEUES = f"""
WITH {rules.QUEUES}
SELECT q.* EXCLUDE ({rules.RULE_COLUMNS})
FROM (SELECT id, tags, flow_runner, work_queue_id FROM deployment WHERE id = $id) AS d
LEFT JOIN q ON {rules.MATCHES}
ORDER BY q.work_pool_name, q.priority, q.name, q.id
"""
_QUEUE_MATRIX = sqlglot.parse_one(
    f"""
    WITH {rules.QUEUES}
    SELECT d.id AS deployment_id, d.name AS deployment_name, q.id AS work_queue_id,
        q.name AS work_queue_name, q.work_pool_name,
        {rules.TAGS_MATCH} AS tags_match, {rules.MISSING_TAGS} AS missing_tags,
        {rules.DEPLOYMENT_ID_MATCH} AS deployment_id_match,
        {rules.FLOW_RUNNER_MATCH} AS flow_runner_match,
        {rules.ASSIGNED} AS assigned, {rules.MATCHES} AS matches
    FROM deployment AS d CROSS JOIN q
    """,
    dialect="duckdb",
)


# --- helpers ------------------------------------------------------------------------------


def _delete_scheduled_runs(session: Store, deployment_id: UUID, *, auto_only: bool) -> None:
    """Delete the deployment's SCHEDULED runs (only auto-scheduled ones if ``auto_only``)
    and the task runs of those runs."""
    auto = "AND auto_scheduled" if auto_only else ""
    cur = session.cursor()
    deleted = cur.execute(_DELETE_SCHEDULED_RUNS.format(auto=auto), {"id": deployment_id}).fetchall()
    if deleted:
        cur.execute(_DELETE_TASK_RUNS, {"ids": [row[0] for row in deleted]}).fetchall()


def _queue_for_update(session: Store, pool_name: str | None, queue_name: str | None) -> UUID | None:
    """The ``work_queue_id`` an update's pool / queue names select (SPEC section 2)."""
    if pool_name:
        pool = read_work_pool_by_name(session, pool_name)
        if pool is None:
            raise ObjectNotFoundError(f"work_pool_name {pool_name!r}: no work pool has this name")
        if not queue_name:
            return pool.default_queue_id
        queue = read_work_queue_by_name(session, queue_name, work_pool_name=pool_name)
        if queue is None:
            queue = create_work_queue(session, WorkQueue(name=queue_name, work_pool_id=pool.id))
        return queue.id
    if queue_name:
        return ensure_work_queue_exists(session, queue_name).id
    return None


_NOT_NULL_UPDATES = frozenset({"is_schedule_active", "parameters", "tags", "infra_overrides"})


def _update_value(update: DeploymentUpdate, name: str) -> Any:
    """The stored value of one set field of an update; required columns reject ``None``."""
    value = getattr(update, name)
    if value is None and name in _NOT_NULL_UPDATES:
        raise ValueError(f"DeploymentUpdate.{name} cannot be set to None")
    return db_value(Deployment, name, value)


__all__ = [
    "MAX_PREVIEW_WINDOW",
    "check_work_queues_for_deployment",
    "count_deployments",
    "create_deployment",
    "create_deployments",
    "delete_deployment",
    "preview_runs",
    "queue_matches",
    "read_deployment",
    "read_deployment_by_name",
    "read_deployment_overview",
    "read_deployments",
    "schedule_all",
    "schedule_runs",
]
