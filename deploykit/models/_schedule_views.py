"""Prefect 2.10's ``schedule`` / ``is_schedule_active`` in batches of deployments, and
writing a batch's schedules to ``deployment_schedule``.

Before schema 4 both were columns of ``deployment``; a batch (a frame given to
``create_deployments``, an importer's rows of an older Prefect) may still carry them.
The one writer splits them off (:func:`split_views`): ``is_schedule_active`` becomes
``paused`` (its opposite) and each row's ``schedule`` becomes that deployment's one active
schedule (null: none), written after the deployments (:func:`replace_schedule_rows`).
"""

from __future__ import annotations

import json

import polars as pl
from duckdb import DuckDBPyConnection

from deploykit.models._rows import db_value
from deploykit.schemas.core import Deployment, DeploymentSchedule

_SCHEDULE_ROW = pl.Schema(
    {
        "id": pl.String(),
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


def _boolean(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A column as booleans; text as the writer reads it (``true`` / ``false``, any case)."""
    if frame.schema[name] != pl.String:
        return pl.col(name).cast(pl.Boolean)
    text = pl.col(name).str.to_lowercase()
    return pl.when(text.is_null()).then(None).otherwise(text.is_in(["true", "t", "1"]))


def split_views(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Split Prefect 2.10's views off a frame of deployments: ``is_schedule_active`` becomes
    ``paused``; ``schedule`` (JSON text or objects) becomes one active schedule per row (null:
    none), returned apart as the rows of ``deployment_schedule`` to write (None: not given)."""
    if "is_schedule_active" in frame.columns:
        paused = ~_boolean(frame, "is_schedule_active")
        if "paused" in frame.columns:  # a row may give either
            paused = pl.coalesce(_boolean(frame, "paused"), paused)
        frame = frame.with_columns(paused=paused).drop("is_schedule_active")
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
        id=pl.lit(None, pl.String),
        flow_id=pl.col("flow_id").cast(pl.String),
        name=pl.col("name"),
        schedule=text,
        active=pl.lit(True),
        max_scheduled_runs=pl.lit(None, pl.Int64),
        parameters=pl.lit("{}"),
        slug=pl.lit(None, pl.String),
        _order=pl.lit(0, pl.Int64),
    )
    return frame.drop("schedule"), schedules


def schedules_of_models(models: list[Deployment]) -> pl.DataFrame:
    """The schedules of each model, as rows of ``deployment_schedule`` keyed by (flow_id, name)."""
    rows = [
        {
            "id": str(s.id),
            "flow_id": str(m.flow_id),
            "name": m.name,
            "schedule": db_value(DeploymentSchedule, "schedule", s.schedule),
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
            "id": None,
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


_DERIVED_ID = (
    "regexp_replace(md5('deployment_schedule ' || CAST(d.id AS VARCHAR) || ' ' || n._order), "
    "'^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5')"
)
"""The id of a schedule given as a 2.10 ``schedule``: derived from its deployment's id, so that
importing the same deployment again gives the same schedule id."""


def replace_schedule_rows(
    cur: DuckDBPyConnection, schedules: pl.DataFrame, *, source: str, only_new: bool = False
) -> None:
    """Each listed deployment (by ``flow_id`` and ``name``) gets its listed rows as its schedules
    (a null ``schedule``: none); ``only_new``: only deployments without schedules yet keep any."""
    from deploykit.models.writer import Writer, registered  # the writer calls this module

    listed = (
        "SELECT d.id FROM deployment d JOIN new_schedules n "
        "ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name"
    )
    fresh = " AND NOT EXISTS (SELECT 1 FROM deployment_schedule s WHERE s.deployment_id = d.id)"
    with registered(cur, "new_schedules", schedules):
        if not only_new:
            cur.execute(f"DELETE FROM deployment_schedule WHERE deployment_id IN ({listed})")
        rows = cur.sql(
            f"SELECT coalesce(n.id, {_DERIVED_ID}) AS id, CAST(d.id AS VARCHAR) AS deployment_id, "
            "d.updated + to_microseconds(n._order) AS created, d.updated AS updated, n.schedule, n.active, "
            "n.max_scheduled_runs, n.parameters, n.slug FROM new_schedules n "
            "JOIN deployment d ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name "
            "WHERE n.schedule IS NOT NULL" + (fresh if only_new else "")
        ).pl()
    Writer(cur).write("deployment_schedule", rows, source=source)
