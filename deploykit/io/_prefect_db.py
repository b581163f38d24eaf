"""A Prefect 2.x server database (SQLite) to deploykit rows, read in chunks.

Prefect keeps JSON as text, timestamps as naive UTC text, booleans as 0/1 and a run's
current state partly on the run (type, name, timestamp) and partly in the state
table (message, scheduled time). Its REST API fills a missing queue name from the
queue and a missing state timestamp from the state; so does this reader. One SQL
query per table maps all that to the store's columns; rows are then streamed to the
loader in bounded batches.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import polars as pl

from deploykit._errors import SourceError
from deploykit.io._chunks import CHUNK_ROWS, check_chunk_rows, load_chunked
from deploykit.io._report import ImportReport
from deploykit.store import Store

KNOWN_REVISIONS = frozenset({"340f457b315f", "3d46e23593d6", "2dbcec43c857"})
"""Alembic revisions of Prefect's SQLite schema this reader understands (Prefect 2.10)."""

_QUERIES: dict[str, str] = {
    "flow": "SELECT id, created, updated, name, tags FROM flow",
    "work_pool": (
        "SELECT id, created, updated, name, type, description, is_paused, concurrency_limit, "
        "default_queue_id, base_job_template FROM work_pool"
    ),
    "work_queue": (
        "SELECT id, created, updated, name, work_pool_id, description, is_paused, "
        "concurrency_limit, priority, filter, last_polled FROM work_queue"
    ),
    "deployment": (
        "SELECT d.id, d.created, d.updated, d.name, d.flow_id, d.version, d.description, "
        "d.schedule, d.is_schedule_active, d.infra_overrides, d.parameters, d.pull_steps, d.tags, "
        "COALESCE(d.work_queue_name, q.name) AS work_queue_name, d.work_queue_id, "
        "d.parameter_openapi_schema, d.path, d.entrypoint, d.manifest_path, "
        "d.storage_document_id, d.infrastructure_document_id, d.created_by, d.updated_by "
        "FROM deployment d LEFT JOIN work_queue q ON q.id = d.work_queue_id"
    ),
    "flow_run": (
        "SELECT r.id, r.created, r.updated, r.name, r.flow_id, r.deployment_id, "
        "COALESCE(r.work_queue_name, q.name) AS work_queue_name, r.work_queue_id, "
        "r.flow_version, r.parameters, r.idempotency_key, r.tags, r.parent_task_run_id, "
        "r.state_type, r.state_name, s.message AS state_message, "
        "COALESCE(r.state_timestamp, s.timestamp) AS state_timestamp, "
        "json_extract(s.state_details, '$.scheduled_time') AS scheduled_time, "
        "r.expected_start_time, r.next_scheduled_start_time, r.start_time, r.end_time, "
        "r.auto_scheduled, r.infrastructure_document_id "
        "FROM flow_run r LEFT JOIN flow_run_state s ON s.id = r.state_id "
        "LEFT JOIN work_queue q ON q.id = r.work_queue_id"
    ),
    "task_run": (
        "SELECT id, created, updated, name, flow_run_id, task_key, dynamic_key, tags, "
        "state_type, state_name, state_timestamp, start_time, end_time FROM task_run"
    ),
}
_BOOLEANS = {"is_paused", "is_schedule_active", "auto_scheduled"}
_TABLES_READ = frozenset({*_QUERIES, "flow_run_state"})
"""Every table the queries above read."""


def open_prefect_db(path: Path) -> sqlite3.Connection:
    """Open a Prefect server database read-only, checking its schema revision."""
    if not path.is_file():
        raise SourceError(f"{path}: no such database file")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SourceError(f"{path}: not a SQLite database ({exc})") from None
    if "alembic_version" not in tables or not {"flow", "deployment"} <= tables:
        conn.close()
        raise SourceError(f"{path}: not a Prefect server database (no alembic_version table)")
    revisions = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    if not revisions & KNOWN_REVISIONS:
        conn.close()
        raise SourceError(
            f"{path}: unknown Prefect schema revision {', '.join(sorted(revisions)) or '(none)'}"
            f"; deploykit reads revisions {', '.join(sorted(KNOWN_REVISIONS))} (Prefect 2.10)"
        )
    missing = sorted(_TABLES_READ - tables)
    if missing:
        conn.close()
        raise SourceError(
            f"{path}: a Prefect 2.10 database missing the table(s) {', '.join(missing)}; "
            "the file is incomplete or was edited"
        )
    for table, query in _QUERIES.items():
        try:
            conn.execute(f"{query} LIMIT 0")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SourceError(
                f"{path}: cannot read {table} ({exc}): a column is missing or the file is damaged"
            ) from None
    return conn


def _batches(conn: sqlite3.Connection, table: str, source: str, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The rows of ``table`` mapped to store columns, ``chunk_rows`` at a time."""
    cur = conn.execute(_QUERIES[table])
    names = [d[0] for d in cur.description]
    while rows := cur.fetchmany(chunk_rows):
        frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
        yield frame.with_columns(
            *(pl.col(c).cast(pl.Boolean) for c in names if c in _BOOLEANS),
            *(_tags(table, source, frame) if "tags" in names else ()),
            pl.lit(source).alias("_source"),
        )


def _tags(table: str, source: str, frame: pl.DataFrame) -> list[pl.Expr]:
    """Decode the JSON tag lists; a malformed one is a :class:`SourceError` naming the row."""
    try:
        frame.select(pl.col("tags").str.json_decode(pl.List(pl.String)))
    except pl.exceptions.PolarsError:
        for row_id, text in zip(frame["id"], frame["tags"], strict=True):
            try:
                pl.Series([text]).str.json_decode(pl.List(pl.String))
            except pl.exceptions.PolarsError:
                raise SourceError(f"{source}: {table} {row_id}: tags {text!r} is not a JSON list") from None
    return [pl.col("tags").str.json_decode(pl.List(pl.String))]


def import_prefect_db(
    store: Store,
    path: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> ImportReport:
    """Import a Prefect 2.10 server database file (SQLite) into ``store``.

    Flows, work pools and queues, deployments, flow runs (with their current state's
    message and scheduled time) and task runs are read ``chunk_rows`` at a time, so
    memory stays bounded for millions of runs, and upserted by id in one transaction.

    Parameters
    ----------
    store
        The store to import into.
    path
        The ``prefect.db`` file, opened read-only as an immutable file: copy it first
        if a Prefect server is still writing to it.
    chunk_rows
        Rows per batch.
    progress
        Show a progress bar (``None``: only on a terminal or in a notebook).

    Returns
    -------
    ImportReport
        Rows inserted and updated per table.

    Raises
    ------
    SourceError
        The file is not SQLite, not a Prefect database, or of an unknown schema revision.
    IntegrityError
        A dangling reference; nothing is written.

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "other.db"
    >>> sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    >>> import_prefect_db(Store(), path)
    Traceback (most recent call last):
    ...
    deploykit.SourceError: ...other.db: not a Prefect server database (no alembic_version table)
    """
    check_chunk_rows(chunk_rows)
    db = Path(path)
    source = str(db)
    conn = open_prefect_db(db)
    try:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _QUERIES}
        tables = {t: (counts[t], partial(_batches, conn, t, source, chunk_rows)) for t in _QUERIES}
        return load_chunked(store, tables, source, progress=progress)
    finally:
        conn.close()
