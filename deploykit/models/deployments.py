"""Deployment operations: the seed, ``prefect.server.models.deployments``, on DuckDB.

Every function takes the store first and runs as one transaction. Reads and counts
compile the six filter families into a single SQL statement (EXISTS subqueries).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import duckdb
import polars as pl
import sqlglot

from deploykit._collect import STREAMING_ENGINE
from deploykit._errors import ObjectNotFoundError
from deploykit.filters import DeploymentFilter, WorkQueueFilter
from deploykit.models import _queue_rules as rules
from deploykit.models import _rollups
from deploykit.models._args import as_name, as_uuid, coerce_filter, coerce_model, non_negative
from deploykit.models._deployment_bulk import (
    KEEP_ON_UPSERT,
    create_deployments,
    pool_of_queue,
    queue_named,
    stored_queue_name,
)
from deploykit.models._deployment_query import (
    COUNT_DEPLOYMENTS,
    DEPLOYMENT_COLUMNS,
    ORDER_BY,
    SELECT_DEPLOYMENTS,
    SELECT_OVERVIEW,
    filtered,
)
from deploykit.models._filters import takes_filters
from deploykit.models._fleet import MAX_PREVIEW_WINDOW, preview_runs, schedule_all
from deploykit.models._rows import db_value
from deploykit.models._scheduled_runs import idempotency_key, insert_deployment_runs, to_schedule
from deploykit.models._schedules import schedules_frame, schedules_of
from deploykit.models.work_pools import read_work_pool_by_name
from deploykit.models.work_queues import (
    create_work_queue,
    ensure_work_queue_exists,
    read_work_queue_by_name,
)
from deploykit.models.writer import Writer, write_model
from deploykit.predicates import SqlCompiler
from deploykit.scheduling import plan_window
from deploykit.schemas.actions import DeploymentScheduleCreate, DeploymentScheduleUpdate, DeploymentUpdate
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import Deployment, DeploymentSchedule, WorkQueue
from deploykit.schemas.frames import from_row
from deploykit.schemas.schedules import cached_schedule
from deploykit.schemas.sorting import DeploymentSort
from deploykit.store import Store

if TYPE_CHECKING:
    from typing import Unpack

    from deploykit.models._filters import FleetFilters

_DELETE_SCHEDULED_RUNS = (
    "DELETE FROM flow_run WHERE deployment_id = $id AND state_type = 'SCHEDULED' {auto} RETURNING id"
)
_DELETE_TASK_RUNS = "DELETE FROM task_run WHERE list_contains($ids, flow_run_id)"


# --- create / update / delete -------------------------------------------------------------


def create_deployment(session: Store, deployment: Deployment) -> Deployment:
    """Upsert a deployment keyed on (flow_id, name).

    A new row stores every field; an existing row takes only the fields set on
    ``deployment`` and keeps its ``id``, ``created`` and ``created_by``. Setting
    ``schedule`` (2.10) or ``schedules`` replaces the deployment's schedules (``schedule=S``:
    one active schedule S). The work queue
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
        The stored deployment, as :func:`read_deployment` gives it (built from the write:
        the Writer's one-row path returns the stored row, so nothing is read back).

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
    given = set(deployment.model_fields_set)
    source = "create_deployment"
    with session.transaction() as cur:
        queue_name = deployment.work_queue_name
        if "work_queue_name" not in given:
            queue_name = stored_queue_name(cur, deployment.flow_id, deployment.name)
        pool_name = None
        if queue_name and "work_queue_id" not in given:
            queue_id, pool_name = queue_named(session, queue_name)
            deployment = deployment.model_copy(update={"work_queue_id": queue_id})
            given.add("work_queue_id")
        stamp, writer = utc_now(), Writer(cur)
        inserted, _, row = write_model(
            writer,
            deployment,
            source=source,
            stamp=stamp,
            key=("flow_id", "name"),
            update=(given - KEEP_ON_UPSERT) | {"updated"},
            returning=True,
        )
        assert row is not None  # an upsert writes, and returning gives the row
        if inserted or "schedules" in given:
            schedules = deployment.schedules
            row["schedules"] = writer.write_schedules(
                row["id"], schedules, stamp=stamp, source=source, replace=not inserted
            )
        else:
            row["schedules"] = schedules_of(cur, row["id"])
        if not inserted:
            _delete_scheduled_runs(session, row["id"], auto_only=True)
        row["work_pool_name"] = pool_name or pool_of_queue(cur, row["work_queue_id"])
        return from_row(Deployment, row)


def update_deployment(session: Store, deployment_id: UUID | str, deployment: DeploymentUpdate) -> bool:
    """Write the fields set on ``deployment`` to the deployment with this id.

    ``work_pool_name`` and ``work_queue_name`` pick the ``work_queue_id``: both given,
    that queue in that pool (created if missing); only a pool, the pool's default
    queue; only a queue name, that queue (ensured). ``schedule`` / ``schedules`` replace
    the deployment's schedules, ``is_schedule_active`` writes ``paused``. Auto-scheduled
    runs still in SCHEDULED state are deleted.

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

        def missing() -> bool:  # asked before what a missing deployment must not see
            return not cur.execute("SELECT 1 FROM deployment WHERE id = $id", {"id": dep_id}).fetchall()

        try:
            row: dict[str, Any] = {name: _update_value(update, name) for name in given - _NOT_COLUMNS}
            if "is_schedule_active" in given:
                row["paused"] = not _update_value(update, "is_schedule_active")
        except ValueError:
            if missing():
                return False
            raise
        if update.work_pool_name or update.work_queue_name:
            if missing():
                return False
            queue_id = _queue_for_update(session, update.work_pool_name, update.work_queue_name)
            if queue_id is not None:
                row["work_queue_id"] = queue_id
        stamp, writer = utc_now(), Writer(cur)
        if not writer.update_row(
            "deployment", row | {"updated": stamp, "id": dep_id}, source="update_deployment"
        ):
            return False
        if "schedules" in given or "schedule" in given:
            if "schedules" in given:
                schedules = [DeploymentSchedule(**s.model_dump()) for s in update.schedules or []]
            else:
                schedules = [] if update.schedule is None else [DeploymentSchedule(schedule=update.schedule)]
            writer.write_schedules(dep_id, schedules, stamp=stamp, source="update_deployment")
        _delete_scheduled_runs(session, dep_id, auto_only=True)
        return True


def delete_deployment(session: Store, deployment_id: UUID | str) -> bool:
    """Delete a deployment, its schedules and all its runs still in SCHEDULED state.

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
        cur.execute("DELETE FROM deployment_schedule WHERE deployment_id = $id", {"id": dep_id})
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
    return _fetch_deployment(
        session.cursor(),
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
    return _fetch_deployment(
        cur, "SELECT * FROM deployment WHERE name = $name", {"name": name}, {"flow_id": flow[0]}
    )


@takes_filters(positional=True)
def read_deployments(
    session: Store,
    offset: int | None = None,
    limit: int | None = None,
    *,
    sort: DeploymentSort = DeploymentSort.NAME_ASC,
    **filters: Unpack[FleetFilters],
) -> pl.DataFrame:
    """Deployments matching every given filter, sorted, then offset, then limited.

    ``flow_run_filter`` and ``task_run_filter`` select deployments with one flow run
    matching the first and having a task run matching the second; the queue and pool
    filters test the queue the deployment's ``work_queue_id`` refers to. Ties in the
    sort break by id, so paging is deterministic. Filters may be given as dicts.

    Returns
    -------
    polars.DataFrame
        One row per deployment: the stored fields (ids as strings, dicts as JSON); the 2.10
        views ``schedule`` (the one schedule, else null) and ``is_schedule_active`` (not
        ``paused``); ``schedules``, a JSON list of every schedule of the deployment (``id``,
        ``schedule``, ``active``, ``max_scheduled_runs``, ``parameters``, ``slug``, ``created``,
        ``updated``: the same
        text for one or many schedules, ``"[]"`` for none); ``schedule_type`` (``cron`` /
        ``interval`` / ``rrule``, ``mixed`` when the schedules differ in kind, null
        without schedules); ``flow_name`` and ``work_pool_name`` (of its queue).

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
    query = filtered(SELECT_DEPLOYMENTS, compiler, **filters)
    query.set("order", ORDER_BY[DeploymentSort(sort)][0].copy())
    if offset is not None:
        query = query.offset(compiler.param(non_negative(offset, "offset")), copy=False)
    if limit is not None:
        query = query.limit(compiler.param(non_negative(limit, "limit")), copy=False)
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


@takes_filters()
def read_deployment_overview(session: Store, **filters: Unpack[FleetFilters]) -> pl.DataFrame:
    """The deployments the filters select (:class:`FleetFilters`, as :func:`read_deployments`
    takes them) with the names views show beside them, by name then id.

    Columns: ``id``, ``name``, ``flow_name``, ``tags``, ``work_queue_name``,
    ``work_pool_name`` (of the queue ``work_queue_id`` points at), ``schedule_type``
    (``"cron" | "interval" | "rrule" | "mixed" | None``) and ``is_schedule_active``: what
    the CLI's and the widgets' summaries need, without SQL of their own.

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
    query = filtered(SELECT_OVERVIEW, compiler, **filters).order_by("d.name", "d.id", copy=False)
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


@takes_filters(positional=True)
def count_deployments(session: Store, **filters: Unpack[FleetFilters]) -> int:
    """How many deployments ``read_deployments`` would return for these filters.

    Examples
    --------
    >>> import deploykit as dk
    >>> count_deployments(dk.Store(), flow_run_filter={"state": {"type": {"any_": ["FAILED"]}}})
    0
    """
    compiler = SqlCompiler()
    query = filtered(COUNT_DEPLOYMENTS, compiler, **filters)
    return session.cursor().execute(query.sql("duckdb"), compiler.params or None).fetchall()[0][0]


# --- schedules (Prefect 3) ----------------------------------------------------------------


def read_deployment_schedules(session: Store, deployment_id: UUID | str) -> pl.DataFrame:
    """The deployment's schedules, one row each, in the order they were added (empty if none).

    Columns are those of table ``deployment_schedule`` (ids as strings, ``schedule`` and
    ``parameters`` as JSON text).

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"cron": "0 9 * * *"}))
    >>> read_deployment_schedules(store, d.id).select("schedule", "active").rows()
    [('{"cron": "0 9 * * *", "timezone": null, "day_or": true}', True)]
    """
    return schedules_frame(session.cursor(), as_uuid(deployment_id, "deployment_id"))


def create_deployment_schedules(
    session: Store,
    deployment_id: UUID | str,
    schedules: Sequence[DeploymentScheduleCreate | DeploymentSchedule | Mapping[str, Any]],
) -> list[DeploymentSchedule]:
    """Add schedules to a deployment; return them as stored.

    The deployment's auto-scheduled runs still in SCHEDULED state are deleted, as on
    every schedule change.

    Raises
    ------
    ObjectNotFoundError
        No deployment has this id (nothing is written).

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"cron": "0 9 * * *"}))
    >>> added = create_deployment_schedules(store, d.id, [dk.DeploymentScheduleCreate(
    ...     schedule={"interval": 3600}, active=False, parameters={"n": 2})])
    >>> len(read_deployment(store, d.id).schedules), read_deployment(store, d.id).schedule
    (2, None)
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    rows = [_new_schedule(s, dep_id) for s in schedules]
    with session.transaction() as cur:
        _require_deployment(cur, dep_id)
        stored = Writer(cur).write_schedules(
            dep_id, rows, stamp=utc_now(), source="create_deployment_schedules", replace=False
        )
        _delete_scheduled_runs(session, dep_id, auto_only=True)
        return stored


def update_deployment_schedule(
    session: Store,
    deployment_id: UUID | str,
    deployment_schedule_id: UUID | str,
    schedule: DeploymentScheduleUpdate | Mapping[str, Any],
) -> bool:
    """Write the fields set on ``schedule`` to that schedule of that deployment.

    Deletes the deployment's auto-scheduled runs still in SCHEDULED state. Returns False
    when the deployment has no schedule with this id.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"cron": "0 9 * * *"}))
    >>> update_deployment_schedule(store, d.id, d.schedules[0].id, dk.DeploymentScheduleUpdate(active=False))
    True
    >>> read_deployment(store, d.id).schedules[0].active
    False
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    schedule_id = as_uuid(deployment_schedule_id, "deployment_schedule_id")
    update = coerce_model(schedule, DeploymentScheduleUpdate, "schedule")
    row: dict[str, Any] = {}
    for name in update.model_fields_set:
        value = getattr(update, name)
        if value is None and name in _REQUIRED_SCHEDULE_FIELDS:
            raise ValueError(f"DeploymentScheduleUpdate.{name} cannot be set to None")
        row[name] = db_value(DeploymentSchedule, name, value)
    row |= {"updated": utc_now(), "id": schedule_id}
    with session.transaction() as cur:
        owned = cur.execute(
            "SELECT 1 FROM deployment_schedule WHERE id = $id AND deployment_id = $dep",
            {"id": schedule_id, "dep": dep_id},
        ).fetchone()
        if owned is None:
            return False
        Writer(cur).update_row("deployment_schedule", row, source="update_deployment_schedule")
        _delete_scheduled_runs(session, dep_id, auto_only=True)
        return True


def delete_deployment_schedule(
    session: Store, deployment_id: UUID | str, deployment_schedule_id: UUID | str
) -> bool:
    """Delete that schedule of that deployment (and the deployment's auto-scheduled runs
    still in SCHEDULED state); False when the deployment has no schedule with this id.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> d = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"cron": "0 9 * * *"}))
    >>> delete_deployment_schedule(store, d.id, d.schedules[0].id), read_deployment(store, d.id).schedules
    (True, [])
    """
    dep_id = as_uuid(deployment_id, "deployment_id")
    schedule_id = as_uuid(deployment_schedule_id, "deployment_schedule_id")
    with session.transaction() as cur:
        found = cur.execute(
            "DELETE FROM deployment_schedule WHERE id = $id AND deployment_id = $dep RETURNING id",
            {"id": schedule_id, "dep": dep_id},
        ).fetchall()
        if found:
            _delete_scheduled_runs(session, dep_id, auto_only=True)
        return bool(found)


_REQUIRED_SCHEDULE_FIELDS = frozenset({"schedule", "active", "parameters"})


def _new_schedule(
    given: DeploymentScheduleCreate | DeploymentSchedule | Mapping[str, Any], deployment_id: UUID
) -> DeploymentSchedule:
    """A schedule to add, from any of the forms ``create_deployment_schedules`` takes."""
    if isinstance(given, DeploymentSchedule):
        return given.model_copy(update={"deployment_id": deployment_id})
    create = coerce_model(given, DeploymentScheduleCreate, "schedules")
    return DeploymentSchedule(**dict(create), deployment_id=deployment_id)


def _require_deployment(cur: duckdb.DuckDBPyConnection, deployment_id: UUID) -> None:
    if not cur.execute("SELECT 1 FROM deployment WHERE id = $id", {"id": deployment_id}).fetchall():
        raise ObjectNotFoundError(f"deployment {deployment_id} does not exist")


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
    idempotency key) are not created again. Each active schedule of the deployment is
    walked so (``max_runs`` lowered by its ``max_scheduled_runs``), its runs taking the
    deployment's parameters updated by the schedule's; the key is Prefect 2.10's for a
    deployment with one schedule, Prefect 3's (with the schedule id) for several. A
    missing or paused deployment, or one without active schedules, gets nothing.

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
        found = to_schedule(cur, dep_id)
        if found is None or found.paused:
            return []
        several = len(found.schedules) > 1
        runs = []
        for schedule in found.schedules:
            if not schedule["active"]:
                continue
            cap = min(window.max_runs, schedule["max_scheduled_runs"] or window.max_runs)
            dates = dataclasses.replace(window, max_runs=cap).dates(cached_schedule(schedule["schedule"]))
            extra = json.loads(schedule["parameters"])
            merged = json.dumps(json.loads(found.parameters) | extra) if extra else found.parameters
            key_of = schedule["id"] if several else None
            runs += [(date, idempotency_key(dep_id, date, key_of), merged) for date in dates]
        return insert_deployment_runs(session, dep_id, found.flow_id, runs, auto_scheduled=auto_scheduled)


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

    Columns: ``deployment_id``, ``deployment_name``, ``flow_name``, ``work_queue_id``,
    ``work_queue_name``, ``work_pool_name`` (the queue's pool), ``tags_match``, ``missing_tags``,
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
        query = query.where(
            compiler.compile(dep_f.as_predicate(), "d", columns=DEPLOYMENT_COLUMNS), copy=False
        )
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
    SELECT d.id AS deployment_id, d.name AS deployment_name,
        (SELECT f.name FROM flow AS f WHERE f.id = d.flow_id) AS flow_name, q.id AS work_queue_id,
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
        _rollups.mark_ids(cur, [deployment_id])
        _rollups.settle(cur)
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


_NOT_NULL_UPDATES = frozenset({"is_schedule_active", "paused", "parameters", "tags", "infra_overrides"})
_NOT_COLUMNS = frozenset({"work_pool_name", "schedule", "schedules", "is_schedule_active"})
"""Fields of DeploymentUpdate that are no column of ``deployment`` (names, views, schedules)."""


def _fetch_deployment(
    cur: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any], match: dict[str, Any] | None = None
) -> Deployment | None:
    """The first ``deployment`` row of ``query`` (matching ``match``) with its schedules and
    its queue's pool name, as a Deployment; ``None`` when there is none."""
    result = cur.execute(query, params)
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    rows = [row for row in rows if all(row[k] == v for k, v in (match or {}).items())]
    if not rows:
        return None
    row = rows[0]
    row["schedules"] = schedules_of(cur, row["id"])
    if row["work_queue_id"] is not None:
        pool = cur.execute(_POOL_OF_QUEUE, {"id": row["work_queue_id"]}).fetchall()
        row["work_pool_name"] = pool[0][0] if pool else None
    return from_row(Deployment, row)


_POOL_OF_QUEUE = (
    "SELECT p.name FROM work_queue AS q JOIN work_pool AS p ON p.id = q.work_pool_id WHERE q.id = $id"
)


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
    "create_deployment_schedules",
    "create_deployments",
    "delete_deployment",
    "delete_deployment_schedule",
    "preview_runs",
    "queue_matches",
    "read_deployment",
    "read_deployment_by_name",
    "read_deployment_overview",
    "read_deployment_schedules",
    "read_deployments",
    "schedule_all",
    "schedule_runs",
    "update_deployment_schedule",
]
