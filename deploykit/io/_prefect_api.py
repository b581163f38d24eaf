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
from deploykit.io._bodies import KIND_TABLES, body_rows
from deploykit.io._chunks import write_batches
from deploykit.io._json import parse_json_bytes
from deploykit.io._report import ImportReport
from deploykit.schemas.core import STORED_MODELS
from deploykit.store import Store, table_columns

_FILE_NAME = re.compile(r"^api-(?:(?P<kind>[a-z_]+?)|work_pool_queues-(?P<pool>.+))\.json$")
_JSON_COLUMNS = {table: model.json_fields for table, model in STORED_MODELS.items()}

__all__ = ["KIND_TABLES", "check_bodies", "import_prefect_api", "kind_of", "load_bodies", "read_body_file"]


def kind_of(body: Mapping[str, Any]) -> str | None:
    """The Prefect collection an API object belongs to, judged by its fields (any release 2.10-3.x).

    Examples
    --------
    >>> kind_of({"id": "x", "name": "etl", "tags": []})
    'flows'
    >>> kind_of({"id": "x", "name": "etl", "tags": [], "labels": {}})
    'flows'
    >>> kind_of({"id": "x", "name": "r", "flow_id": "f", "state_type": "SCHEDULED"})
    'flow_runs'
    >>> kind_of({"id": "x", "name": "d", "flow_id": "f", "schedules": [], "paused": False})
    'deployments'
    """
    keys = set(body)
    if "task_key" in keys and "flow_run_id" in keys:
        return "task_runs"
    deployment = {"schedule", "is_schedule_active", "entrypoint", "schedules", "paused", "job_variables"}
    if "flow_id" in keys and keys & deployment and "state_type" not in keys:
        return "deployments"
    if "flow_id" in keys and keys & {"state_type", "state", "auto_scheduled", "deployment_id"}:
        return "flow_runs"
    if "base_job_template" in keys or ("type" in keys and "default_queue_id" in keys):
        return "work_pools"
    if "priority" in keys or "work_pool_id" in keys:
        return "work_queues"
    if "name" in keys and "id" in keys and "tags" in keys and "flow_id" not in keys:
        return "flows"
    if "name" in keys and keys <= {"id", "created", "updated", "name", "tags", "labels"}:
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


def bodies_frame(table: str, items: Iterable[tuple[str, Mapping[str, Any]]]) -> pl.DataFrame:
    """Rows of ``table`` from ``(source, row)`` pairs, as text columns ready for the writer."""
    columns = table_columns(table)
    json_columns = _JSON_COLUMNS.get(table, set())
    helper = ["work_pool_name"] if table in ("deployment", "flow_run") else []
    data: dict[str, list[Any]] = {c.name: [] for c in columns} | {h: [] for h in helper}
    data["_source"] = []
    for source, row in items:
        for col in columns:
            value = row.get(col.name)
            if col.name in json_columns:
                data[col.name].append(None if value is None else json.dumps(value))
            elif col.type == "VARCHAR[]":
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    raise SourceError(
                        f"{source}: {table} {row.get('id')}: {col.name} must be a list of strings"
                    )
                data[col.name].append(value)
            else:
                data[col.name].append(_scalar(source, table, row, col.name, value))
        for name in helper:
            data[name].append(_scalar(source, table, row, name, row.get(name)))
        data["_source"].append(source)
    lists = {c.name for c in columns if c.type == "VARCHAR[]"}
    schema = {name: pl.List(pl.String) if name in lists else pl.String for name in data}
    return pl.DataFrame(data, schema=schema)


def body_tables(
    bodies: Sequence[tuple[str, str, list[dict[str, Any]]]],
) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """``(source, row)`` pairs per store table from ``(source, kind, bodies)`` lists."""
    by_table: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for src, kind, rows in bodies:
        table = KIND_TABLES[kind]
        for body in rows:
            row, schedules = body_rows(kind, body)
            by_table.setdefault(table, []).append((src, row))
            if kind == "deployments":
                by_table.setdefault("deployment_schedule", []).extend((src, s) for s in schedules)
    return by_table


def load_bodies(
    store: Store, bodies: Sequence[tuple[str, str, list[dict[str, Any]]]], source: str
) -> ImportReport:
    """Upsert ``(source, kind, objects)`` body lists into ``store`` in one transaction.

    An imported deployment's schedules become exactly those its body lists: stored
    schedules of it that the body no longer has are removed.
    """
    by_table = body_tables(bodies)
    frames = {table: bodies_frame(table, items) for table, items in by_table.items()}
    report = ImportReport(source=source)
    with store.transaction() as cur:
        write_batches(cur, {t: (lambda f=f: [f]) for t, f in frames.items()}, source, report)
        if "deployment" in frames:
            drop_stale_schedules(cur, frames["deployment"], frames.get("deployment_schedule"))
    return report


def drop_stale_schedules(cur: Any, deployments: pl.DataFrame, schedules: pl.DataFrame | None) -> None:
    """Delete the stored schedules of ``deployments`` that are not among ``schedules``."""
    kept = [] if schedules is None else schedules["id"].to_list()
    keep = pl.DataFrame({"id": kept}, schema={"id": pl.String})
    ids = deployments.select("id")
    cur.register("_dk_deployments", ids)
    cur.register("_dk_schedules", keep)
    try:
        cur.execute(
            "DELETE FROM deployment_schedule WHERE CAST(deployment_id AS VARCHAR) IN "
            "(SELECT id FROM _dk_deployments) AND CAST(id AS VARCHAR) NOT IN (SELECT id FROM _dk_schedules)"
        )
    finally:
        cur.unregister("_dk_deployments")
        cur.unregister("_dk_schedules")


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
        How many rows the bodies inserted into each table, and how many they updated.

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
    ImportReport(...: flow +1 ~0 =0)
    >>> import_prefect_api(store, folder).updated
    {'flow': 1}
    """
    root = Path(path)
    bodies = [(str(f), *read_body_file(f)) for f in body_files(root)]
    return load_bodies(store, bodies, str(root))
