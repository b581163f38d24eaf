"""Prefect REST API bodies (``POST /api/<kind>/filter``) to deploykit rows.

Prefect returns lists of JSON objects; this module recognises their kind, keeps the
fields deploykit models (flattening a flow run's nested ``state`` into its state
columns) and hands per-table frames to the models' one writer (:class:`deploykit.models.writer.Writer`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from deploykit._errors import SourceError
from deploykit.io._chunks import write_batches
from deploykit.io._json import parse_json_bytes
from deploykit.io._report import ImportReport
from deploykit.schemas.core import STORED_MODELS
from deploykit.store import Store, table_columns

KIND_TABLES: dict[str, str] = {
    "flows": "flow",
    "work_pools": "work_pool",
    "work_queues": "work_queue",
    "deployments": "deployment",
    "flow_runs": "flow_run",
    "task_runs": "task_run",
}
"""Prefect's collection names and the store tables they fill."""

_FILE_NAME = re.compile(r"^api-(?:(?P<kind>[a-z_]+?)|work_pool_queues-(?P<pool>.+))\.json$")
_JSON_COLUMNS = {table: model.json_fields for table, model in STORED_MODELS.items()}


def kind_of(body: Mapping[str, Any]) -> str | None:
    """The Prefect collection an API object belongs to, judged by its fields.

    Examples
    --------
    >>> kind_of({"id": "x", "name": "etl", "tags": []})
    'flows'
    >>> kind_of({"id": "x", "name": "r", "flow_id": "f", "state_type": "SCHEDULED"})
    'flow_runs'
    """
    keys = set(body)
    if "task_key" in keys and "flow_run_id" in keys:
        return "task_runs"
    if "flow_id" in keys and keys & {"schedule", "is_schedule_active", "entrypoint"}:
        return "deployments"
    if "flow_id" in keys and keys & {"state_type", "state", "auto_scheduled", "deployment_id"}:
        return "flow_runs"
    if "base_job_template" in keys or ("type" in keys and "default_queue_id" in keys):
        return "work_pools"
    if "priority" in keys or "work_pool_id" in keys:
        return "work_queues"
    if "name" in keys and keys <= {"id", "created", "updated", "name", "tags"}:
        return "flows"
    return None


MAX_BODY_BYTES = 512 * 2**20
"""Largest API body file read whole (JSON has no streaming reader here); bigger sources
should come as a Prefect database or Parquet, which are read in chunks."""


def read_body_file(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The kind and the objects of one body file; a clear :class:`SourceError` if unusable."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{path}: not a regular file")
        size = info.st_size
        if size > MAX_BODY_BYTES:
            raise SourceError(
                f"{path}: {size / 2**20:.0f} MiB is over the {MAX_BODY_BYTES // 2**20} MiB limit for one "
                "body file; split it, or import a Prefect database or a Parquet export (read in chunks)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = parse_json_bytes(path, raw)
    match = _FILE_NAME.match(path.name)
    expected = None
    if match:
        expected = "work_queues" if match["pool"] else match["kind"]
        if expected not in KIND_TABLES:
            expected = None
    return check_bodies(str(path), data, expected)


def check_bodies(source: str, data: Any, expected: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Check that ``data`` is a list of API objects of one kind (``expected`` if given)."""
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SourceError(f"{source}: expected a JSON list of Prefect API objects")
    kinds = {kind_of(r) for r in rows}
    if None in kinds:
        bad = next(r for r in rows if kind_of(r) is None)
        raise SourceError(
            f"{source}: object {bad.get('id', '(no id)')} is not a Prefect API body of a "
            f"known kind (fields: {', '.join(sorted(bad)[:8])})"
        )
    if expected is not None and kinds - {expected}:
        found = sorted(kinds - {expected})[0]
        raise SourceError(f"{source}: expected {expected} bodies but found {found} ones")
    if len(kinds) > 1:
        raise SourceError(f"{source}: mixes bodies of several kinds ({', '.join(sorted(kinds))})")
    kind = expected or (kinds.pop() if kinds else None)
    if kind is None:
        raise SourceError(f"{source}: an empty list; name the file api-<kind>.json")
    return kind, rows


def body_files(path: Path) -> list[Path]:
    """The body files of a folder (``api-*.json``) or the single file given."""
    if path.is_dir():
        files = sorted(path.glob("api-*.json"))
        if not files:
            raise SourceError(f"{path}: no Prefect API body files (api-<kind>.json) in folder")
        return files
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    return [path]


def _scalar(source: str, table: str, body: Mapping[str, Any], name: str, value: Any) -> str | None:
    """A scalar as text DuckDB can cast (booleans as true/false); an object or a list is
    refused, naming the file, row, field and value (it must not be stored as its repr)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        shown = json.dumps(value)[:80]
        raise SourceError(
            f"{source}: {table} {body.get('id', '(no id)')}: column {name}: {shown} is a JSON "
            f"{type(value).__name__.replace('dict', 'object')}, not a single value"
        )
    return str(value)


def _flatten_state(body: Mapping[str, Any]) -> dict[str, Any]:
    """A run body's nested ``state`` as deploykit's state columns."""
    state = body.get("state") or {}
    details = state.get("state_details") or {}
    return {
        "state_type": body.get("state_type", state.get("type")),
        "state_name": body.get("state_name", state.get("name")),
        "state_message": state.get("message"),
        "state_timestamp": body.get("state_timestamp", state.get("timestamp")),
        "scheduled_time": body.get("scheduled_time", details.get("scheduled_time")),
    }


def bodies_frame(table: str, items: Iterable[tuple[str, Mapping[str, Any]]]) -> pl.DataFrame:
    """Rows of ``table`` from ``(source, body)`` pairs, as text columns ready for the loader."""
    columns = [c for c in table_columns(table)]
    json_columns = _JSON_COLUMNS.get(table, set())
    helper = ["work_pool_name"] if table in ("deployment", "flow_run") else []
    data: dict[str, list[Any]] = {c.name: [] for c in columns} | {h: [] for h in helper}
    data["_source"] = []
    for source, body in items:
        flat = dict(body)
        if table in ("flow_run", "task_run"):
            flat |= _flatten_state(body)
        for col in columns:
            value = flat.get(col.name)
            if col.name in json_columns:
                data[col.name].append(None if value is None else json.dumps(value))
            elif col.type == "VARCHAR[]":
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    raise SourceError(
                        f"{source}: {table} {body.get('id')}: {col.name} must be a list of strings"
                    )
                data[col.name].append(value)
            else:
                data[col.name].append(_scalar(source, table, body, col.name, value))
        for name in helper:
            data[name].append(_scalar(source, table, body, name, flat.get(name)))
        data["_source"].append(source)
    schema = {
        name: pl.List(pl.String) if name in data and _is_list(table, name) else pl.String for name in data
    }
    return pl.DataFrame(data, schema=schema)


def _is_list(table: str, name: str) -> bool:
    return any(c.name == name and c.type == "VARCHAR[]" for c in table_columns(table))


def load_bodies(
    store: Store, bodies: Sequence[tuple[str, str, list[dict[str, Any]]]], source: str
) -> ImportReport:
    """Upsert ``(source, kind, objects)`` body lists into ``store`` in one transaction."""
    by_table: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for src, kind, rows in bodies:
        by_table.setdefault(KIND_TABLES[kind], []).extend((src, r) for r in rows)
    frames = {table: bodies_frame(table, items) for table, items in by_table.items()}
    report = ImportReport(source=source)
    with store.transaction() as cur:
        write_batches(cur, {t: (lambda f=f: [f]) for t, f in frames.items()}, source, report)
    return report


def import_prefect_api(store: Store, path: str | os.PathLike[str]) -> ImportReport:
    """Import Prefect REST API bodies: a folder of ``api-<kind>.json`` files or one file.

    Folders hold ``api-deployments.json``, ``api-flows.json``, ``api-flow_runs.json``,
    ``api-task_runs.json``, ``api-work_pools.json``, ``api-work_queues.json`` and
    ``api-work_pool_queues-<pool>.json`` (any subset). A single file's kind comes from
    its name or, failing that, its content. Rows are upserted by id (importing twice
    keeps one copy), deployments that name their queue by ``work_pool_name`` +
    ``work_queue_name`` get that queue's id, and a flow run's nested ``state`` fills
    its state columns. Everything is checked before anything is written; on any error
    the store is left as it was.

    Parameters
    ----------
    store
        The store to import into.
    path
        A folder of body files or one body file.

    Returns
    -------
    ImportReport
        Rows inserted and updated per table.

    Raises
    ------
    SourceError
        Unreadable or invalid JSON, bodies of the wrong or an unknown kind, bad values,
        an id twice with different content (the message names the file and row).
    IntegrityError
        A reference to a flow, flow run, pool or queue that exists nowhere.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> flow = {"id": "2e8c375e-bd45-4928-a7e2-8ea40c549488", "name": "etl", "tags": []}
    >>> _ = (folder / "api-flows.json").write_text(json.dumps([flow]))
    >>> store = Store()
    >>> import_prefect_api(store, folder)
    ImportReport(...: flow +1 ~0)
    >>> import_prefect_api(store, folder).updated
    {'flow': 1}
    """
    root = Path(path)
    bodies = [(str(f), *read_body_file(f)) for f in body_files(root)]
    return load_bodies(store, bodies, str(root))
