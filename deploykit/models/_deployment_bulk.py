"""Writing deployments: the bulk upsert (a DataFrame or a list, in one transaction, by the one
writer), and the few lookups the one-deployment operations share with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl
from duckdb import DuckDBPyConnection

from deploykit.models import _rollups
from deploykit.models._schedule_views import replace_schedule_rows, schedules_of_models
from deploykit.models.work_pools import DEFAULT_POOL_NAME
from deploykit.models.work_queues import ensure_work_queue_exists
from deploykit.models.writer import Writer, registered, rows_frame
from deploykit.schemas.core import Deployment
from deploykit.store import Store

if TYPE_CHECKING:
    from uuid import UUID

_KEY = ("flow_id", "name")
KEEP_ON_UPSERT = frozenset({"id", "created", "created_by", "updated", "flow_id", "name"})
"""Columns an upsert never overwrites: identity, creation, and the (flow_id, name) key it matched on."""

_DELETE_AUTO_SCHEDULED = """
DELETE FROM flow_run WHERE auto_scheduled AND state_type = 'SCHEDULED' AND deployment_id IN (
    SELECT d.id FROM deployment d JOIN new_deployments n
    ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name
)
RETURNING id, deployment_id
"""


def create_deployments(session: Store, deployments: pl.DataFrame | Sequence[Deployment]) -> int:
    """Upsert many deployments keyed on (flow_id, name) in one transaction.

    A DataFrame's columns are the fields written (missing ones take the model's
    defaults on insert and are left alone on update); a list of models writes every
    field. A ``schedule`` column (2.10) replaces each row's schedules with that one active
    schedule (null: none); ``is_schedule_active`` writes ``paused``; a list of models writes
    their ``schedules``. As with :func:`create_deployment`, existing rows keep ``id``,
    ``created`` and ``created_by``, queues named by ``work_queue_name`` are ensured and linked, and the
    updated deployments' auto-scheduled runs in SCHEDULED state are deleted. Rows are
    checked and written by :class:`deploykit.models.writer.Writer`, the importers' writer.

    Returns
    -------
    int
        The number of deployments inserted or updated.

    Raises
    ------
    ValueError
        A value the schema refuses (unknown or missing columns, bad names, ids, JSON).
    IntegrityError
        A dangling ``flow_id`` / ``work_queue_id``, a (flow_id, name) twice, or an id of
        another deployment; the message names the row and field. Nothing is written.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models import deployments as D, flows
    >>> store = dk.Store()
    >>> etl = flows.create_flow(store, dk.Flow(name="etl")).id
    >>> frame = pl.DataFrame({"name": ["a", "b"], "flow_id": [str(etl)] * 2, "tags": [["x"], []]})
    >>> create_deployments(store, frame), D.count_deployments(store)
    (2, 2)
    """
    schedules = None
    if isinstance(deployments, pl.DataFrame):
        frame = deployments
    else:
        models = list(deployments)
        frame = rows_frame(models, Deployment)
        schedules = schedules_of_models(models)
    if frame.is_empty():
        return 0
    given = set(frame.columns)
    written = given | {"work_queue_id"} if "work_queue_name" in given else given
    with session.transaction() as cur:
        frame = _link_queues(session, frame, "work_queue_id" in given)
        inserted, updated = Writer(cur).write(
            "deployment",
            frame,
            source="create_deployments",
            key=_KEY,
            update=(written - KEEP_ON_UPSERT) | {"updated"},
        )
        if schedules is not None:
            replace_schedule_rows(cur, schedules, source="create_deployments")
        if updated:
            _delete_auto_scheduled(cur, frame.select(pl.col("flow_id").cast(pl.String), "name"))
    return inserted + updated


def _delete_auto_scheduled(cur: DuckDBPyConnection, keys: pl.DataFrame) -> None:
    """Delete the auto-scheduled SCHEDULED runs (and their task runs) of these deployments."""
    with registered(cur, "new_deployments", keys):
        deleted = cur.execute(_DELETE_AUTO_SCHEDULED).fetchall()
    if deleted:
        _rollups.mark_ids(cur, {row[1] for row in deleted})
        _rollups.settle(cur)
        cur.execute(
            "DELETE FROM task_run WHERE flow_run_id IN (SELECT unnest($ids))",
            {"ids": [row[0] for row in deleted]},
        ).fetchall()


def _link_queues(session: Store, frame: pl.DataFrame, ids_given: bool) -> pl.DataFrame:
    """Ensure each named queue exists and fill ``work_queue_id`` where the caller gave none."""
    if "work_queue_name" not in frame.columns:
        return frame
    names = frame.filter(pl.col("work_queue_name").is_not_null())["work_queue_name"].unique().to_list()
    if not names:
        return frame
    queue_ids = {name: str(ensure_work_queue_exists(session, name).id) for name in sorted(names)}
    looked_up = pl.col("work_queue_name").replace_strict(queue_ids, default=None, return_dtype=pl.String)
    if ids_given:
        looked_up = pl.coalesce(pl.col("work_queue_id").cast(pl.String), looked_up)
    return frame.with_columns(looked_up.alias("work_queue_id"))


def stored_queue_name(cur: DuckDBPyConnection, flow_id: UUID, name: str) -> str | None:
    """The ``work_queue_name`` of the stored deployment (flow_id, name), if any (by the name index)."""
    query = "SELECT flow_id, work_queue_name FROM deployment WHERE name = $n"
    rows = cur.execute(query, {"n": name}).fetchall()
    return next((queue for flow, queue in rows if flow == flow_id), None)


def queue_named(session: Store, name: str) -> tuple[UUID, str | None]:
    """The id and pool name of the queue ``name`` (any pool, default pool first), created in
    the default pool if none (:func:`~deploykit.models.work_queues.ensure_work_queue_exists`).

    The usual case, a queue of the default pool, is one query.
    """
    cur = session.cursor()
    found = cur.execute(_DEFAULT_POOL_QUEUE, {"name": name, "default": DEFAULT_POOL_NAME}).fetchall()
    if found:
        return found[0][0], DEFAULT_POOL_NAME
    queue = ensure_work_queue_exists(session, name)
    return queue.id, pool_of_queue(cur, queue.id)


def pool_of_queue(cur: DuckDBPyConnection, queue_id: UUID | None) -> str | None:
    """The name of the pool of the queue ``queue_id`` (None for none)."""
    if queue_id is None:
        return None
    rows = cur.execute(_POOL_OF_QUEUE, {"id": queue_id}).fetchall()
    return rows[0][0] if rows else None


_DEFAULT_POOL_QUEUE = (
    "SELECT q.id FROM work_queue q JOIN work_pool p ON p.id = q.work_pool_id "
    "WHERE q.name = $name AND p.name = $default"
)
_POOL_OF_QUEUE = (
    "SELECT p.name FROM work_queue AS q JOIN work_pool AS p ON p.id = q.work_pool_id WHERE q.id = $id"
)
