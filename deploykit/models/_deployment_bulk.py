"""Bulk upsert of deployments from a DataFrame or a list, in one transaction, by the one writer."""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl
from duckdb import DuckDBPyConnection

from deploykit.models.work_queues import ensure_work_queue_exists
from deploykit.models.writer import Writer, registered, rows_frame
from deploykit.schemas.core import Deployment
from deploykit.store import Store

_KEY = ("flow_id", "name")
_KEEP_ON_UPSERT = frozenset({"id", "created", "created_by", "updated", "flow_id", "name"})
"""Columns an upsert never overwrites: identity, creation, and the (flow_id, name) key it matched on."""

_DELETE_AUTO_SCHEDULED = """
DELETE FROM flow_run WHERE auto_scheduled AND state_type = 'SCHEDULED' AND deployment_id IN (
    SELECT d.id FROM deployment d JOIN new_deployments n
    ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name
)
RETURNING id
"""


def create_deployments(session: Store, deployments: pl.DataFrame | Sequence[Deployment]) -> int:
    """Upsert many deployments keyed on (flow_id, name) in one transaction.

    A DataFrame's columns are the fields written (missing ones take the model's
    defaults on insert and are left alone on update); a list of models writes every
    field. A ``schedule`` column (2.10) replaces each row's schedules with that one active
    schedule (null: none); ``is_schedule_active`` writes ``paused``. As with :func:`create_deployment`, existing rows keep ``id``, ``created`` and
    ``created_by``, queues named by ``work_queue_name`` are ensured and linked, and the
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
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.deployments import count_deployments
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> frame = pl.DataFrame({"name": ["a", "b"], "flow_id": [str(flow.id)] * 2, "tags": [["x"], []]})
    >>> create_deployments(store, frame), count_deployments(store)
    (2, 2)
    """
    if isinstance(deployments, pl.DataFrame):
        frame, schedules = _schedule_views(deployments)
    else:
        models = list(deployments)
        frame = rows_frame(models, Deployment)
        schedules = _schedules_of_models(models)
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
            update=(written - _KEEP_ON_UPSERT) | {"updated"},
        )
        if schedules is not None:
            _replace_schedules(cur, schedules)
        if updated:
            _delete_auto_scheduled(cur, frame.select(pl.col("flow_id").cast(pl.String), "name"))
    return inserted + updated


_SCHEDULE_ROW = pl.Schema(
    {
        "flow_id": pl.String(),
        "name": pl.String(),
        "schedule": pl.String(),
        "active": pl.Boolean(),
        "max_scheduled_runs": pl.Int64(),
        "parameters": pl.String(),
        "slug": pl.String(),
        "_order": pl.Int64(),
    }
)


def _schedule_views(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Split Prefect 2.10's views off a frame of deployments: ``is_schedule_active`` becomes
    ``paused``; ``schedule`` (JSON text or objects) becomes one active schedule per row (null:
    none), returned apart as the rows of ``deployment_schedule`` to write (None: not given)."""
    if "is_schedule_active" in frame.columns:
        if "paused" not in frame.columns:
            frame = frame.with_columns(paused=~pl.col("is_schedule_active").cast(pl.Boolean))
        frame = frame.drop("is_schedule_active")
    if "schedule" not in frame.columns:
        return frame, None
    text = pl.col("schedule")
    if frame.schema["schedule"] != pl.String:
        text = text.map_elements(
            lambda v: json.dumps(v.to_list() if isinstance(v, pl.Series) else v),
            return_dtype=pl.String,
            skip_nulls=True,
        )
    schedules = frame.select(
        pl.col("flow_id").cast(pl.String),
        pl.col("name"),
        schedule=text,
        active=pl.lit(True),
        max_scheduled_runs=pl.lit(None, pl.Int64),
        parameters=pl.lit("{}"),
        slug=pl.lit(None, pl.String),
        _order=pl.lit(0, pl.Int64),
    )
    return frame.drop("schedule"), schedules


def _schedules_of_models(models: list[Deployment]) -> pl.DataFrame:
    """The schedules of each model, as rows of ``deployment_schedule`` keyed by (flow_id, name)."""
    rows = [
        {
            "flow_id": str(m.flow_id),
            "name": m.name,
            "schedule": s.model_dump_json(include={"schedule"})[12:-1],
            "active": s.active,
            "max_scheduled_runs": s.max_scheduled_runs,
            "parameters": json.dumps(s.parameters),
            "slug": s.slug,
            "_order": i,
        }
        for m in models
        for i, s in enumerate(m.schedules)
    ]
    keys = [
        {
            "flow_id": str(m.flow_id),
            "name": m.name,
            "schedule": None,
            "active": None,
            "max_scheduled_runs": None,
            "parameters": None,
            "slug": None,
            "_order": 0,
        }
        for m in models
        if not m.schedules
    ]
    return pl.DataFrame(rows + keys, schema=_SCHEDULE_ROW)


def _replace_schedules(cur: DuckDBPyConnection, schedules: pl.DataFrame) -> None:
    """Each listed deployment's schedules become its listed rows (a null ``schedule``: none)."""
    with registered(cur, "new_schedules", schedules):
        cur.execute(
            "DELETE FROM deployment_schedule WHERE deployment_id IN (SELECT d.id FROM deployment d "
            "JOIN new_schedules n ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name)"
        )
        rows = cur.sql(
            "SELECT CAST(uuid() AS VARCHAR) AS id, CAST(d.id AS VARCHAR) AS deployment_id, "
            "now() + to_microseconds(n._order) AS created, now() AS updated, n.schedule, n.active, "
            "n.max_scheduled_runs, n.parameters, n.slug FROM new_schedules n "
            "JOIN deployment d ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name "
            "WHERE n.schedule IS NOT NULL"
        ).pl()
    Writer(cur).write("deployment_schedule", rows, source="create_deployments")


def _delete_auto_scheduled(cur: DuckDBPyConnection, keys: pl.DataFrame) -> None:
    """Delete the auto-scheduled SCHEDULED runs (and their task runs) of these deployments."""
    with registered(cur, "new_deployments", keys):
        deleted = cur.execute(_DELETE_AUTO_SCHEDULED).fetchall()
    if deleted:
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
