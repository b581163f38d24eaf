"""Task run operations (Prefect's ``server/models/task_runs.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from deploykit.models._args import coerce_model
from deploykit.models._lookup import fetch_by_id
from deploykit.models._rows import fetch_model
from deploykit.models.writer import Writer, write_model
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import TaskRun
from deploykit.store import Store


def create_task_run(session: Store, task_run: TaskRun | Mapping[str, Any]) -> TaskRun:
    """Create a task run; its flow run must exist. An existing (flow run, key) is returned as is.

    ``task_run`` may be a dict of the model's fields; the row is written by the one
    writer (:mod:`deploykit.models.writer`).
    """
    task_run = coerce_model(task_run, TaskRun, "task_run")
    with session.transaction() as cur:
        existing = fetch_model(
            cur,
            TaskRun,
            "SELECT * FROM task_run WHERE flow_run_id = $f AND task_key = $k AND dynamic_key = $d",
            {"f": task_run.flow_run_id, "k": task_run.task_key, "d": task_run.dynamic_key},
        )
        if existing is not None:
            return existing
        write_model(Writer(cur), task_run, source="create_task_run", stamp=utc_now(), on_conflict="error")
        return read_task_run(session, task_run.id)  # type: ignore[return-value]


def read_task_run(session: Store, task_run_id: UUID | str) -> TaskRun | None:
    """The task run with this id, or ``None``."""
    return fetch_by_id(session.cursor(), TaskRun, task_run_id, "task_run_id")
