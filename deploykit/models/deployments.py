"""Deployment operations: the seed, ``prefect.server.models.deployments``, on DuckDB.

Every function takes the store first and runs as one transaction. Reads and counts
compile the six filter families into a single SQL statement (EXISTS subqueries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from deploykit._errors import IntegrityError, ObjectNotFoundError
from deploykit.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    SqlCompiler,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from deploykit.models import _queue_rules as rules
from deploykit.models._args import as_uuid, coerce_filter, coerce_model, non_negative
from deploykit.models._bulk import models_to_frame, normalise_frame
from deploykit.models._rows import db_value, fetch_model, insert_sql, to_row, update_sql
from deploykit.models._scheduled_runs import insert_deployment_runs, insert_scheduled_runs, iso_in_zone
from deploykit.models._window import plan_window, require_aware
from deploykit.models.work_pools import read_work_pool_by_name
from deploykit.models.work_queues import (
    create_work_queue,
    ensure_work_queue_exists,
    read_work_queue_by_name,
)
from deploykit.scheduling import expand_schedules
from deploykit.schemas._base import utc_now
from deploykit.schemas.actions import DeploymentUpdate
from deploykit.schemas.core import Deployment, WorkQueue
from deploykit.schemas.schedules import MAX_DATES
from deploykit.schemas.sorting import DeploymentSort
from deploykit.store import Store

SCHEDULE_TYPE_SQL = (
    "CASE WHEN d.schedule IS NULL THEN NULL "
    "WHEN json_exists(d.schedule, '$.cron') THEN 'cron' "
    "WHEN json_exists(d.schedule, '$.interval') THEN 'interval' ELSE 'rrule' END"
)
_SELECT_DEPLOYMENTS = sqlglot.parse_one(
    f"SELECT d.*, {SCHEDULE_TYPE_SQL} AS schedule_type FROM deployment AS d", dialect="duckdb"
)
_COUNT_DEPLOYMENTS = sqlglot.parse_one("SELECT count(*) FROM deployment AS d", dialect="duckdb")
_FLOW_OF_DEPLOYMENT = sqlglot.parse_one("SELECT 1 FROM flow AS f WHERE f.id = d.flow_id")
_RUNS_OF_DEPLOYMENT = sqlglot.parse_one("SELECT 1 FROM flow_run AS fr WHERE fr.deployment_id = d.id")
_TASKS_OF_RUN = sqlglot.parse_one("SELECT 1 FROM task_run AS tr WHERE tr.flow_run_id = fr.id")
_QUEUE_OF_DEPLOYMENT = sqlglot.parse_one(
    "SELECT 1 FROM work_queue AS wq JOIN work_pool AS wp ON wp.id = wq.work_pool_id "
    "WHERE wq.id = d.work_queue_id"
)
_SORT_SQL: dict[DeploymentSort, list[str]] = {
    DeploymentSort.NAME_ASC: ["d.name", "d.id"],
    DeploymentSort.NAME_DESC: ["d.name DESC", "d.id"],
    DeploymentSort.CREATED_DESC: ["d.created DESC", "d.id"],
    DeploymentSort.UPDATED_DESC: ["d.updated DESC", "d.id"],
}
_ORDER_BY = {
    key: [sqlglot.parse_one(f"SELECT 1 ORDER BY {', '.join(cols)}").args["order"]]
    for key, cols in _SORT_SQL.items()
}
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
    now = utc_now()
    with session.transaction() as cur:
        found = cur.execute(
            """
            SELECT (SELECT count(*) FROM flow WHERE id = $flow_id) AS flow_exists, d.id, d.work_queue_name
            FROM (SELECT 1) LEFT JOIN deployment d ON d.flow_id = $flow_id AND d.name = $name
            """,
            {"flow_id": deployment.flow_id, "name": deployment.name},
        ).fetchall()
        flow_exists, existing_id, existing_queue = found[0]
        if not flow_exists:
            raise IntegrityError(f"flow_id {deployment.flow_id} does not refer to an existing flow")
        given = deployment.model_fields_set
        if existing_id is None:
            row = to_row(deployment) | {"created": now, "updated": now}
            queue_name = deployment.work_queue_name
        else:
            row = to_row(deployment, given - {"id", "created", "created_by", "updated"})
            row |= {"updated": now, "id": existing_id}
            queue_name = row.get("work_queue_name", existing_queue)
        if queue_name and "work_queue_id" not in given:
            row["work_queue_id"] = ensure_work_queue_exists(session, queue_name).id
        try:
            if existing_id is None:
                stored = fetch_model(cur, Deployment, insert_sql("deployment", row) + " RETURNING *", row)
            else:
                columns = [c for c in row if c != "id"]
                stored = fetch_model(cur, Deployment, update_sql("deployment", columns) + " RETURNING *", row)
                _delete_scheduled_runs(session, existing_id, auto_only=True)
        except duckdb.ConstraintException as exc:
            raise _integrity_error(exc, deployment) from None
        return stored  # type: ignore[return-value]


def _integrity_error(exc: duckdb.ConstraintException, deployment: Deployment) -> IntegrityError:
    """A readable message for the constraint a deployment write broke."""
    if "foreign key" in str(exc).lower():
        return IntegrityError(
            f"work_queue_id {deployment.work_queue_id} does not refer to an existing work queue"
        )
    return IntegrityError(f"id {deployment.id} is already used by another deployment")


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


def create_deployments(session: Store, deployments: pl.DataFrame | Sequence[Deployment]) -> int:
    """Upsert many deployments keyed on (flow_id, name) in one statement.

    A DataFrame's columns are the fields written (missing ones take the model's
    defaults on insert and are left alone on update); a list of models writes every
    field. As with :func:`create_deployment`, existing rows keep ``id``, ``created`` and
    ``created_by``, queues named by ``work_queue_name`` are ensured and linked, and the
    updated deployments' auto-scheduled runs in SCHEDULED state are deleted.

    Returns
    -------
    int
        The number of deployments inserted or updated.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> frame = pl.DataFrame({"name": ["a", "b"], "flow_id": [str(flow.id)] * 2, "tags": [["x"], []]})
    >>> create_deployments(store, frame), count_deployments(store)
    (2, 2)
    """
    if isinstance(deployments, pl.DataFrame):
        given = set(deployments.columns)
        frame = normalise_frame(deployments, Deployment, required={"name", "flow_id"})
    else:
        given = set(Deployment.model_fields)
        frame = models_to_frame(list(deployments), Deployment)
    if frame.is_empty():
        return 0
    duplicates = frame.filter(pl.struct("flow_id", "name").is_duplicated())
    if duplicates.height:
        raise IntegrityError(
            f"deployment {duplicates['name'][0]!r} of flow {duplicates['flow_id'][0]} appears twice"
        )
    with session.transaction() as cur:
        cur.register("new_deployments", frame)
        try:
            missing = cur.execute(_MISSING_FLOWS).fetchall()
            if missing:
                raise IntegrityError(f"flow_id {missing[0][0]} does not refer to an existing flow")
            frame = _link_queues(session, frame, "work_queue_id" in given)
            cur.unregister("new_deployments")
            cur.register("new_deployments", frame)
            written = set(given) | {"work_queue_id"} if "work_queue_name" in given else set(given)
            updates = [c for c in frame.columns if c in written and c not in _KEEP_ON_UPSERT]
            sets = ", ".join([f"{c} = excluded.{c}" for c in updates] + ["updated = excluded.updated"])
            columns = ", ".join(frame.columns)
            selects = ", ".join(_bulk_select(c) for c in frame.columns)
            rows = cur.execute(
                f"INSERT INTO deployment ({columns}) SELECT {selects} FROM new_deployments "
                f"ON CONFLICT (flow_id, name) DO UPDATE SET {sets}",
                {"now": utc_now()},
            ).fetchall()[0][0]
            cur.execute(
                "DELETE FROM flow_run WHERE auto_scheduled AND state_type = 'SCHEDULED' AND deployment_id IN "
                "(SELECT d.id FROM deployment d JOIN new_deployments n "
                "ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name)"
            ).fetchall()
        finally:
            cur.unregister("new_deployments")
    return int(rows)


_KEEP_ON_UPSERT = frozenset({"id", "created", "created_by", "updated"})
_MISSING_FLOWS = (
    "SELECT DISTINCT n.flow_id FROM new_deployments n "
    "ANTI JOIN flow f ON f.id = CAST(n.flow_id AS UUID) ORDER BY 1 LIMIT 1"
)


def _bulk_select(column: str) -> str:
    """How a frame column becomes a deployment column in the bulk insert."""
    if column == "id":
        return "coalesce(CAST(id AS UUID), uuid())"
    if column in ("created", "updated"):
        return "$now"
    return column


def _link_queues(session: Store, frame: pl.DataFrame, ids_given: bool) -> pl.DataFrame:
    """Ensure each named queue exists and fill ``work_queue_id`` where the caller gave none."""
    names = frame.filter(pl.col("work_queue_name").is_not_null())["work_queue_name"].unique().to_list()
    if not names:
        return frame
    queue_ids = {name: str(ensure_work_queue_exists(session, name).id) for name in sorted(names)}
    looked_up = pl.col("work_queue_name").replace_strict(queue_ids, default=None, return_dtype=pl.String)
    if ids_given:
        looked_up = pl.coalesce(pl.col("work_queue_id"), looked_up)
    return frame.with_columns(looked_up.alias("work_queue_id"))


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
    return fetch_model(
        session.cursor(),
        Deployment,
        "SELECT d.* FROM deployment d JOIN flow f ON f.id = d.flow_id WHERE d.name = $name AND f.name = $flow",
        {"name": name, "flow": flow_name},
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
    query = _filtered(
        _SELECT_DEPLOYMENTS,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=flow_run_filter,
        task_run_filter=task_run_filter,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    )
    query.set("order", _ORDER_BY[DeploymentSort(sort)][0].copy())
    if offset is not None:
        query = query.offset(compiler.param(non_negative(offset, "offset")), copy=False)
    if limit is not None:
        query = query.limit(compiler.param(non_negative(limit, "limit")), copy=False)
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
    query = _filtered(
        _COUNT_DEPLOYMENTS,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=flow_run_filter,
        task_run_filter=task_run_filter,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    )
    return session.cursor().execute(query.sql("duckdb"), compiler.params or None).fetchall()[0][0]


def _filtered(
    base: exp.Select,
    compiler: SqlCompiler,
    *,
    flow_filter: FlowFilter | Mapping[str, Any] | None,
    flow_run_filter: FlowRunFilter | Mapping[str, Any] | None,
    task_run_filter: TaskRunFilter | Mapping[str, Any] | None,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None,
) -> exp.Select:
    """``base`` restricted by every given filter (one statement, EXISTS subqueries)."""
    flow_f = coerce_filter(flow_filter, FlowFilter, "flow_filter")
    run_f = coerce_filter(flow_run_filter, FlowRunFilter, "flow_run_filter")
    task_f = coerce_filter(task_run_filter, TaskRunFilter, "task_run_filter")
    dep_f = coerce_filter(deployment_filter, DeploymentFilter, "deployment_filter")
    pool_f = coerce_filter(work_pool_filter, WorkPoolFilter, "work_pool_filter")
    queue_f = coerce_filter(work_queue_filter, WorkQueueFilter, "work_queue_filter")

    query = base.copy()
    if dep_f is not None:
        query = query.where(compiler.compile(dep_f.as_predicate(), "d"), copy=False)
    if flow_f is not None:
        flows = _FLOW_OF_DEPLOYMENT.where(compiler.compile(flow_f.as_predicate(), "f"))
        query = query.where(exp.Exists(this=flows), copy=False)
    if run_f is not None or task_f is not None:
        runs = _RUNS_OF_DEPLOYMENT.copy()
        if run_f is not None:
            runs = runs.where(compiler.compile(run_f.as_predicate(), "fr"), copy=False)
        if task_f is not None:
            tasks = _TASKS_OF_RUN.where(compiler.compile(task_f.as_predicate(), "tr"))
            runs = runs.where(exp.Exists(this=tasks), copy=False)
        query = query.where(exp.Exists(this=runs), copy=False)
    if queue_f is not None or pool_f is not None:
        queues = _QUEUE_OF_DEPLOYMENT.copy()
        if queue_f is not None:
            queues = queues.where(compiler.compile(queue_f.as_predicate(), "wq"), copy=False)
        if pool_f is not None:
            queues = queues.where(compiler.compile(pool_f.as_predicate(), "wp"), copy=False)
        query = query.where(exp.Exists(this=queues), copy=False)
    return query


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
    with session.transaction():
        deployment = read_deployment(session, dep_id)
        if deployment is None or deployment.schedule is None or not deployment.is_schedule_active:
            return []
        dates = window.dates(deployment.schedule)
        return insert_deployment_runs(session, dep_id, dates, auto_scheduled=auto_scheduled)


def preview_runs(
    session: Store,
    start: datetime,
    end: datetime,
    *,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None = None,
    flow_filter: FlowFilter | Mapping[str, Any] | None = None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None = None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None = None,
    include_inactive: bool = False,
    max_runs_per_deployment: int = 1000,
) -> pl.DataFrame:
    """Every run the selected deployments' schedules would create in ``[start, end]``.

    Nothing is written. Schedules are expanded in bulk (``deploykit.scheduling``), with
    the same dates as each schedule's ``get_dates``.

    Parameters
    ----------
    start, end
        The window, inclusive; timezone-aware, at most ``MAX_PREVIEW_WINDOW`` long.
    deployment_filter, flow_filter, work_pool_filter, work_queue_filter
        Select deployments as :func:`read_deployments` does.
    include_inactive
        Also preview schedules that are switched off (``is_schedule_active`` False).
    max_runs_per_deployment
        At most this many (earliest) runs per deployment.

    Returns
    -------
    polars.DataFrame
        ``deployment_id``, ``deployment_name``, ``flow_name``, ``work_queue_name``,
        ``work_pool_name``, ``schedule_type``, ``timezone``, ``scheduled_time`` (UTC),
        ``local_time`` (wall clock in the schedule's zone) and ``dst_adjusted`` (the run
        was moved by a DST gap or falls on a repeated wall time), by time.

    Examples
    --------
    >>> import deploykit as dk
    >>> from datetime import datetime, timezone
    >>> from deploykit.models.flows import create_flow
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> _ = create_deployment(store, dk.Deployment(name="d", flow_id=flow.id,
    ...     schedule={"cron": "30 2 * * *", "timezone": "America/New_York"}))
    >>> runs = preview_runs(store, datetime(2023, 3, 11, tzinfo=timezone.utc),
    ...                     datetime(2023, 3, 13, tzinfo=timezone.utc))
    >>> runs.select("local_time", "dst_adjusted").rows()
    [(datetime.datetime(2023, 3, 11, 2, 30), False), (datetime.datetime(2023, 3, 12, 3, 0), True)]
    """
    start = require_aware(start, "start")
    end = require_aware(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if end - start > MAX_PREVIEW_WINDOW:
        raise ValueError(f"preview window {end - start} is longer than the limit {MAX_PREVIEW_WINDOW}")
    if not 1 <= max_runs_per_deployment <= MAX_DATES:
        raise ValueError(f"max_runs_per_deployment must be between 1 and {MAX_DATES}")
    selected = _scheduled_deployments(
        session,
        deployment_filter,
        flow_filter,
        work_pool_filter,
        work_queue_filter,
        include_inactive,
    )
    dates = expand_schedules(
        selected.select("id", "schedule"), start, end, max_per_schedule=max_runs_per_deployment
    )
    return (
        dates.join(selected.drop("schedule"), on="id", how="inner")
        .rename({"id": "deployment_id"})
        .select(
            "deployment_id",
            "deployment_name",
            "flow_name",
            "work_queue_name",
            "work_pool_name",
            "schedule_type",
            "timezone",
            "scheduled_time",
            "local_time",
            "dst_adjusted",
        )
        .sort("scheduled_time", "deployment_name", "deployment_id")
    )


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
    """Schedule runs for every active deployment at once, as Prefect's scheduler service does.

    Each deployment gets exactly the runs :func:`schedule_runs` would give it with the
    same arguments, but the schedules are expanded in bulk and every run is inserted
    by one statement, in one transaction.

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
    with session.transaction():
        selected = _scheduled_deployments(session, deployment_filter, None, None, None, False)
        if window.max_runs == 0 or selected.is_empty():
            return insert_scheduled_runs(session, pl.DataFrame(), auto_scheduled=auto_scheduled)
        dates = expand_schedules(
            selected.select("id", "schedule"),
            window.start,
            window.end,
            max_per_schedule=window.max_runs,
        )
        rank = pl.int_range(1, pl.len() + 1).over("id")
        enough = (rank >= window.min_runs) & (pl.col("scheduled_time") >= window.start + window.min_time)
        stop = pl.when(enough).then(rank).otherwise(None).min().over("id")
        kept = dates.filter(stop.is_null() | (rank <= stop))
        frame = kept.select(
            pl.col("id").alias("deployment_id"),
            "scheduled_time",
            (
                pl.lit("scheduled ")
                + pl.col("id")
                + pl.lit(" ")
                + iso_in_zone(pl.col("scheduled_time"), kept["timezone"])
            ).alias("idempotency_key"),
        )
        return insert_scheduled_runs(session, frame, auto_scheduled=auto_scheduled)


MAX_PREVIEW_WINDOW = timedelta(days=366)
"""Longest window ``preview_runs`` expands (bounds memory on large fleets)."""


def _scheduled_deployments(
    session: Store,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None,
    flow_filter: FlowFilter | Mapping[str, Any] | None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None,
    include_inactive: bool,
) -> pl.DataFrame:
    """Selected deployments that have a schedule, with their flow, queue and pool names."""
    compiler = SqlCompiler()
    query = _filtered(
        _SCHEDULED_DEPLOYMENTS,
        compiler,
        flow_filter=flow_filter,
        flow_run_filter=None,
        task_run_filter=None,
        deployment_filter=deployment_filter,
        work_pool_filter=work_pool_filter,
        work_queue_filter=work_queue_filter,
    )
    if not include_inactive:
        query = query.where("d.is_schedule_active", copy=False)
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


_SCHEDULED_DEPLOYMENTS = sqlglot.parse_one(
    f"""
    SELECT d.id, d.name AS deployment_name, f.name AS flow_name, d.work_queue_name,
        p.name AS work_pool_name, {SCHEDULE_TYPE_SQL} AS schedule_type, d.schedule
    FROM deployment AS d
    JOIN flow AS f ON f.id = d.flow_id
    LEFT JOIN work_queue AS q ON q.id = d.work_queue_id
    LEFT JOIN work_pool AS p ON p.id = q.work_pool_id
    WHERE NOT d.schedule IS NULL
    """,
    dialect="duckdb",
)


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
) -> pl.DataFrame:
    """Every (deployment, queue) pair with each matching rule's verdict, in one query.

    Columns: ``deployment_id``, ``deployment_name``, ``work_queue_id``,
    ``work_queue_name``, ``work_pool_name``, ``tags_match``, ``missing_tags``,
    ``deployment_id_match``, ``flow_runner_match``, ``assigned`` (the deployment's own
    ``work_queue_id``) and ``matches`` (all three rules hold).

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
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()


_CHECK_QUEUES = f"""
SELECT q.*, p.name AS work_pool_name
FROM (SELECT id, tags, flow_runner, work_queue_id FROM deployment WHERE id = $id) AS d
LEFT JOIN (work_queue AS q JOIN work_pool AS p ON p.id = q.work_pool_id) ON {rules.MATCHES}
ORDER BY p.name, q.priority, q.name, q.id
"""
_QUEUE_MATRIX = sqlglot.parse_one(
    f"""
    SELECT d.id AS deployment_id, d.name AS deployment_name, q.id AS work_queue_id,
        q.name AS work_queue_name, p.name AS work_pool_name,
        {rules.TAGS_MATCH} AS tags_match, {rules.MISSING_TAGS} AS missing_tags,
        {rules.DEPLOYMENT_ID_MATCH} AS deployment_id_match,
        {rules.FLOW_RUNNER_MATCH} AS flow_runner_match,
        {rules.ASSIGNED} AS assigned, {rules.MATCHES} AS matches
    FROM deployment AS d CROSS JOIN work_queue AS q JOIN work_pool AS p ON p.id = q.work_pool_id
    ORDER BY d.name, d.id, p.name, q.priority, q.name, q.id
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
    "check_work_queues_for_deployment",
    "count_deployments",
    "create_deployment",
    "create_deployments",
    "delete_deployment",
    "preview_runs",
    "queue_matches",
    "read_deployment",
    "read_deployment_by_name",
    "read_deployments",
    "schedule_all",
    "schedule_runs",
]
