"""A deployment's schedules in table ``deployment_schedule``: written, read and replaced.

Prefect 2.18+ and 3.x keep many schedules per deployment; the 2.10 ``schedule`` field is a
view of them (``deploykit.schemas.core.Deployment``). Rows are written by the one
:class:`~deploykit.models.writer.Writer`; within one write, ``created`` grows by a
microsecond per schedule so that reads give them back in the order they were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import duckdb
import polars as pl

from deploykit.models._rows import fetch_models
from deploykit.models.writer import Writer, rows_frame
from deploykit.schemas.core import DeploymentSchedule

SCHEDULE_ORDER = "created, id"
"""The order a deployment's schedules are read in: the order they were written."""


def write_schedules(
    cur: duckdb.DuckDBPyConnection,
    deployment_id: UUID,
    schedules: Sequence[DeploymentSchedule],
    *,
    stamp: datetime,
    source: str,
) -> list[DeploymentSchedule]:
    """Insert ``schedules`` for the deployment (their ``deployment_id`` set to it); return them stored."""
    if not schedules:
        return []
    step = timedelta(microseconds=1)
    rows = [
        s.model_copy(update={"deployment_id": deployment_id, "created": stamp + i * step, "updated": stamp})
        for i, s in enumerate(schedules)
    ]
    Writer(cur).write("deployment_schedule", rows_frame(rows, DeploymentSchedule), source=source)
    return rows


def replace_schedules(
    cur: duckdb.DuckDBPyConnection,
    deployment_id: UUID,
    schedules: Sequence[DeploymentSchedule],
    *,
    stamp: datetime,
    source: str,
) -> list[DeploymentSchedule]:
    """The deployment's schedules become ``schedules``, as writing ``schedule=`` / ``schedules=``
    does in Prefect."""
    cur.execute("DELETE FROM deployment_schedule WHERE deployment_id = $id", {"id": deployment_id})
    return write_schedules(cur, deployment_id, schedules, stamp=stamp, source=source)


def schedules_of(cur: duckdb.DuckDBPyConnection, deployment_id: UUID) -> list[DeploymentSchedule]:
    """The deployment's schedules, in the order they were written."""
    return fetch_models(
        cur,
        DeploymentSchedule,
        f"SELECT * FROM deployment_schedule WHERE deployment_id = $id ORDER BY {SCHEDULE_ORDER}",
        {"id": deployment_id},
    )


def schedules_frame(cur: duckdb.DuckDBPyConnection, deployment_id: UUID) -> pl.DataFrame:
    """The deployment's schedules as a frame of store rows (ids as text, JSON as text)."""
    return cur.sql(
        f"SELECT * FROM deployment_schedule WHERE deployment_id = $id ORDER BY {SCHEDULE_ORDER}",
        params={"id": deployment_id},
    ).pl()
