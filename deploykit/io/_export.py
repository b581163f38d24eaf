"""The store as Prefect REST API bodies: what ``POST /api/<kind>/filter`` of a release would return."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from deploykit._errors import SourceError
from deploykit.io._bodies import KIND_TABLES, row_body
from deploykit.io._folders import output_folder
from deploykit.io._releases import RELEASES
from deploykit.schemas.core import STORED_MODELS
from deploykit.store import Store

_BATCH = 10_000
_QUEUE_JOIN = (
    " LEFT JOIN work_queue q ON q.id = t.work_queue_id LEFT JOIN work_pool p ON p.id = q.work_pool_id"
)
_HELPERS: dict[str, tuple[str, str]] = {
    "work_queue": (
        ", p.name AS work_pool_name",
        " LEFT JOIN work_pool p ON p.id = t.work_pool_id",
    ),
    "deployment": (
        ", p.name AS work_pool_name, CASE WHEN q.id IS NULL THEN t.work_queue_name ELSE q.name END "
        "AS work_queue_name",
        _QUEUE_JOIN,
    ),
    "flow_run": (
        ", p.name AS work_pool_name, CAST(p.id AS VARCHAR) AS work_pool_id, "
        "CASE WHEN q.id IS NULL THEN t.work_queue_name ELSE q.name END AS work_queue_name",
        _QUEUE_JOIN,
    ),
}
"""What Prefect's API derives from a row's queue: its pool's name (and id), and the queue's
name (Prefect's database may leave a deployment's ``work_queue_name`` null; its API
shows the queue's)."""


def _plain(value: Any, name: str, json_fields: frozenset[str]) -> Any:
    if value is None:
        return None
    if name in json_fields:
        return json.loads(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _rows(cur: Any, table: str, where: str = "", params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
    """The table's rows as plain values (JSON decoded, ids as text) with Prefect's derived fields.

    ``where`` is SQL with ``?`` placeholders; ``params`` are their bound values (never
    glued into the SQL text).
    """
    extra_select, joins = _HELPERS.get(table, ("", ""))
    star = "t.* EXCLUDE (work_queue_name)" if "work_queue_name" in extra_select else "t.*"
    cur.execute(f"SELECT {star}{extra_select} FROM {table} t{joins} {where} ORDER BY t.id", params)
    names = [d[0] for d in cur.description]
    json_fields = STORED_MODELS[table].json_fields
    while batch := cur.fetchmany(_BATCH):
        for values in batch:
            yield {n: _plain(v, n, json_fields) for n, v in zip(names, values, strict=True)}


def _write(path: Path, bodies: Iterator[dict[str, Any]]) -> int:
    """Write a JSON list one body per line (no list held in memory); how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for body in bodies:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(body))
            count += 1
        out.write("\n]\n" if count else "]\n")
    return count


def export_prefect_api(
    store: Store, folder: str | os.PathLike[str], *, release: str = "2.10"
) -> dict[str, int]:
    """Write the store as a Prefect release's REST API bodies, one ``api-<kind>.json`` per collection.

    Also writes ``api-work_pool_queues-<pool>.json`` per pool. Each body has the fields
    ``release`` returns, in its order: timestamps are ISO 8601 in UTC (``+00:00`` on 2.x,
    ``Z`` on 3.x), runs carry a nested ``state``, deployments their ``schedule`` and
    ``is_schedule_active`` (2.10, 2.14) or ``schedules`` and ``paused`` (2.20, 3.x), and
    the fields an import kept verbatim (``extra``) are given back: importing a release's
    bodies and exporting them with the same ``release`` gives those bodies back.
    :func:`import_prefect_api` reads the folder back.

    Parameters
    ----------
    store
        The store to export.
    folder
        Created if missing.
    release
        ``"2.10"``, ``"2.14"``, ``"2.20"`` or ``"3.x"``: whose body shape to write.

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
    if release not in RELEASES:
        raise SourceError(f"unknown Prefect release {release!r}; choose one of {', '.join(RELEASES)}")
    out = output_folder(folder)
    written: dict[str, int] = {}
    with store.transaction() as cur:
        schedules: dict[str, list[dict[str, Any]]] = {}
        for row in _rows(cur, "deployment_schedule"):
            schedules.setdefault(str(row["deployment_id"]), []).append(row)
        for kind, table in KIND_TABLES.items():
            rows = _rows(cur, table)
            bodies = (row_body(kind, r, schedules.get(r["id"], ()), release=release) for r in rows)
            written[f"api-{kind}.json"] = _write(out / f"api-{kind}.json", bodies)
        pools = cur.execute("SELECT CAST(id AS VARCHAR), name FROM work_pool ORDER BY name").fetchall()
        for pool_id, name in pools:
            rows = _rows(cur, "work_queue", "WHERE t.work_pool_id = ?", (pool_id,))
            bodies = (row_body("work_queues", r, release=release) for r in rows)
            written[f"api-work_pool_queues-{name}.json"] = _write(
                out / f"api-work_pool_queues-{name}.json", bodies
            )
    return written
