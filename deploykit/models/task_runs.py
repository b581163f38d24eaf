"""Task run operations (Prefect's ``server/models/task_runs.py``)."""

from __future__ import annotations

from uuid import UUID

from deploykit._errors import IntegrityError
from deploykit.models._rows import fetch_model, insert_sql, to_row
from deploykit.schemas._base import utc_now
from deploykit.schemas.core import TaskRun
from deploykit.store import Store


def create_task_run(session: Store, task_run: TaskRun) -> TaskRun:
    """Create a task run; its flow run must exist. An existing (flow run, key) is returned as is."""
    now = utc_now()
    with session.transaction() as cur:
        if not cur.execute("SELECT 1 FROM flow_run WHERE id = $id", {"id": task_run.flow_run_id}).fetchall():
            raise IntegrityError(f"flow_run_id {task_run.flow_run_id} does not refer to an existing flow run")
        row = to_row(task_run) | {"created": now, "updated": now}
        cur.execute(
            insert_sql("task_run", row) + " ON CONFLICT (flow_run_id, task_key, dynamic_key) DO NOTHING",
            row,
        )
        return fetch_model(  # type: ignore[return-value]
            cur,
            TaskRun,
            "SELECT * FROM task_run WHERE flow_run_id = $f AND task_key = $k AND dynamic_key = $d",
            {"f": task_run.flow_run_id, "k": task_run.task_key, "d": task_run.dynamic_key},
        )


def read_task_run(session: Store, task_run_id: UUID | str) -> TaskRun | None:
    """The task run with this id, or ``None``."""
    return fetch_model(
        session.cursor(),
        TaskRun,
        "SELECT * FROM task_run WHERE id = $id",
        {"id": UUID(str(task_run_id))},
    )
