"""A deployment's schedules in table ``deployment_schedule``, as they are read.

Prefect 2.18+ and 3.x keep many schedules per deployment; the 2.10 ``schedule`` field is a
view of them (``deploykit.schemas.core.Deployment``). Rows are written by the one
:class:`~deploykit.models.writer.Writer`; within one write, ``created`` grows by a
microsecond per schedule so that reads give them back in the order they were given.
"""

from __future__ import annotations

from uuid import UUID

import duckdb
import polars as pl

from deploykit.models._rows import fetch_models
from deploykit.schemas.core import DeploymentSchedule

SCHEDULE_ORDER = "created, id"
"""The order a deployment's schedules are read in: the order they were written."""


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
