"""The store as Prefect REST API bodies: what ``POST /api/<kind>/filter`` would return."""

from __future__ import annotations

import os

from deploykit.io._folders import output_folder
from deploykit.io._prefect_api import KIND_TABLES
from deploykit.schemas.core import STORED_MODELS
from deploykit.store import Store, table_columns

_JSON_COLUMNS = frozenset().union(*(model.json_fields for model in STORED_MODELS.values()))
_RUN_STATE = {"state_message", "state_timestamp", "scheduled_time"}


def _ts(expr: str) -> str:
    """ISO 8601 text with an explicit UTC offset, as Prefect writes timestamps."""
    return f"strftime({expr}, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"


def _value(alias: str, name: str, kind: str) -> str:
    """How column ``name`` of table alias ``alias`` appears in a body."""
    col = f"{alias}.{name}"
    if name in _JSON_COLUMNS:
        return f"CAST({col} AS JSON) AS {name}"
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"{_ts(col)} AS {name}"
    if kind == "UUID":
        return f"CAST({col} AS VARCHAR) AS {name}"
    return f"{col} AS {name}"


def body_query(table: str, where: str = "") -> str:
    """A SELECT producing ``table``'s rows in Prefect's body shape, sorted by id."""
    skip = _RUN_STATE if table == "flow_run" else set()
    values = [_value("t", c.name, c.type) for c in table_columns(table) if c.name not in skip]
    joins = ""
    if table in ("deployment", "flow_run"):
        values.append("p.name AS work_pool_name")
        joins = (
            " LEFT JOIN work_queue q ON q.id = t.work_queue_id LEFT JOIN work_pool p ON p.id = q.work_pool_id"
        )
    if table in ("flow_run", "task_run"):
        message = "t.state_message" if table == "flow_run" else "NULL::VARCHAR"
        scheduled = _ts("t.scheduled_time") if table == "flow_run" else "NULL::VARCHAR"
        values.append(
            "CASE WHEN t.state_type IS NULL THEN NULL ELSE struct_pack("
            f"type := t.state_type, name := t.state_name, timestamp := {_ts('t.state_timestamp')},"
            f" message := {message}, state_details := struct_pack(scheduled_time := {scheduled}))"
            " END AS state"
        )
    return f"SELECT {', '.join(values)} FROM {table} t{joins} {where} ORDER BY t.id"


def export_prefect_api(store: Store, folder: str | os.PathLike[str]) -> dict[str, int]:
    """Write the store as Prefect REST API bodies, one ``api-<kind>.json`` per collection.

    Also writes ``api-work_pool_queues-<pool>.json`` per pool. Timestamps are ISO 8601
    in UTC, JSON fields are objects, runs carry a nested ``state`` (type, name,
    timestamp, message, ``state_details.scheduled_time``) and deployments and runs a
    ``work_pool_name``, as Prefect 2.10 returns them. :func:`import_prefect_api` reads
    the folder back.

    Parameters
    ----------
    store
        The store to export.
    folder
        Created if missing.

    Returns
    -------
    dict[str, int]
        Bodies written per file name.

    Examples
    --------
    >>> import tempfile
    >>> export_prefect_api(Store(), tempfile.mkdtemp())["api-flows.json"]
    0
    """
    out = output_folder(folder)
    written: dict[str, int] = {}
    with store.transaction() as cur:
        jobs = [(f"api-{kind}.json", body_query(table)) for kind, table in KIND_TABLES.items()]
        pools = cur.execute("SELECT id, name FROM work_pool ORDER BY name").fetchall()
        jobs += [
            (f"api-work_pool_queues-{name}.json", body_query("work_queue", f"WHERE t.work_pool_id = '{pid}'"))
            for pid, name in pools
        ]
        for name, query in jobs:
            target = str(out / name).replace("'", "''")
            cur.execute(f"COPY ({query}) TO '{target}' (FORMAT json, ARRAY true)")
            written[name] = cur.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
    return written
