"""A Prefect server database (SQLite file or PostgreSQL URL), 2.10 to 3.x, to deploykit rows, in chunks.

The database is recognised by its alembic revision (:mod:`deploykit.io._releases`);
the columns each table has are read from the database's own catalog, so one query per
table serves every release: a column a release lacks reads as null. Prefect keeps a
run's current state partly on the run and partly in the state table; its REST API
fills a flow run's missing queue name from the queue and a missing state timestamp
from the state, and so does this reader. A deployment's ``work_queue_name`` is read as
Prefect stores it (null for deployments given only a pool), so ``work_queue_name``
filters agree with Prefect's. Releases before 2.18 keep one ``schedule`` per
deployment: it becomes one active ``deployment_schedule`` row with a stable id.
Prefect computes ``estimated_run_time`` and ``estimated_start_time_delta`` per request;
they are computed with Prefect's rules as of the database's last change to a run (so
importing the same database twice gives the same rows).

Rows are streamed ``chunk_rows`` at a time (a server-side cursor on PostgreSQL, one
REPEATABLE READ snapshot) into the models' one writer, in one store transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from deploykit._errors import SourceError
from deploykit.io._bodies import legacy_schedule_id
from deploykit.io._chunks import CHUNK_ROWS, check_chunk_rows, load_chunked, prefetch
from deploykit.io._pg_copy import copy_frames
from deploykit.io._postgres import PgTarget, connect, is_postgres_url
from deploykit.io._releases import release_of_revision
from deploykit.io._report import ImportReport
from deploykit.store import Store

_TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")
_BOOLEANS = {"is_paused", "paused", "auto_scheduled", "active", "enforce_parameter_schema"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC = pl.Datetime("us", "UTC")

DbSource = str | os.PathLike[str]
"""A Prefect server database: the path of a SQLite file, or a ``postgresql://`` URL."""


@dataclass
class PrefectDb:
    """An open Prefect database: its dialect, connection, catalog and release."""

    source: str
    dialect: str
    conn: Any
    columns: dict[str, set[str]] = field(default_factory=dict)
    release: str = ""

    # -- SQL pieces that differ between SQLite and PostgreSQL ---------------------------------

    def col(self, alias: str, table: str, name: str) -> str:
        """Column ``name`` of ``table`` (as ``alias``); NULL when absent.

        Values are read as stored: PostgreSQL's ``COPY`` writes ids and JSON as their
        text and times in UTC, the session's time zone (:mod:`deploykit.io._pg_copy`).
        """
        if name not in self.columns.get(table, set()):
            return "NULL"
        return f'{alias}."{name}"'

    def seconds(self, alias: str, table: str, name: str) -> str:
        """An interval column: seconds on PostgreSQL; SQLite keeps it as a time after the
        epoch, turned into seconds by :func:`_batches` (exactly, in microseconds)."""
        expr = self.col(alias, table, name)
        if self.dialect == "sqlite" or expr == "NULL":
            return expr
        return f"CAST(EXTRACT(EPOCH FROM {expr}) AS DOUBLE PRECISION)"

    def json_get(self, expr: str, key: str) -> str:
        if expr == "NULL":
            return expr
        if self.dialect == "sqlite":
            return f"json_extract({expr}, '$.{key}')"
        return f"(({expr})::jsonb ->> '{key}')"

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()

    def close(self) -> None:
        self.conn.close()


def open_prefect_db(source: DbSource) -> PrefectDb:
    """Open a Prefect server database read-only and recognise its release by alembic revision."""
    if is_postgres_url(source):
        db = PrefectDb(str(PgTarget.parse(str(source))), "postgresql", connect(str(source)))
        rows = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    else:
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"{path}: no such database file")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        db = PrefectDb(str(path), "sqlite", conn)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SourceError(f"{path}: not a SQLite database ({exc})") from None
        rows = [(t, r[1]) for t in tables for r in conn.execute(f'PRAGMA table_info("{t}")')]
    for table, column in rows:
        db.columns.setdefault(table, set()).add(column)
    try:
        if "alembic_version" not in db.columns or not {"flow", "deployment"} <= db.columns.keys():
            raise SourceError(f"{db.source}: not a Prefect server database (no alembic_version table)")
        revisions = [r[0] for r in db.execute("SELECT version_num FROM alembic_version")]
        db.release = release_of_revision(db.dialect, revisions, db.source)
        missing = sorted(_TABLES_READ - db.columns.keys())
        if missing:
            raise SourceError(
                f"{db.source}: a Prefect {db.release} database missing the table(s) "
                f"{', '.join(missing)}; the file is incomplete or was edited"
            )
    except BaseException:
        db.close()
        raise
    return db


_TABLES_READ = frozenset(
    {"flow", "work_pool", "work_queue", "deployment", "flow_run", "flow_run_state", "task_run"}
)
"""The tables every release's database has and the reader needs (``deployment_schedule`` only
from 2.18 on, so it is optional)."""


def _queries(db: PrefectDb) -> dict[str, str]:
    """One SELECT per store table, giving its columns in text form (see :meth:`PrefectDb.col`)."""

    def c(alias: str, table: str, names: str) -> list[str]:
        return [f'{db.col(alias, table, n)} AS "{n}"' for n in names.split()]

    def select(parts: list[str], rest: str) -> str:
        return f"SELECT {', '.join(parts)} {rest}"

    stamps = "id created updated"
    plain = {
        "flow": ("f", "name tags labels"),
        "work_pool": (
            "p",
            "default_queue_id name type description is_paused concurrency_limit status "
            "base_job_template storage_configuration",
        ),
        "work_queue": (
            "q",
            "work_pool_id name description is_paused concurrency_limit priority status filter last_polled",
        ),
    }
    queries = {
        table: select(c(alias, table, f"{stamps} {names}"), f"FROM {table} {alias}")
        for table, (alias, names) in plain.items()
    }
    d = "deployment"
    paused = db.col("d", d, "paused")
    if paused == "NULL":
        paused = f"NOT {db.col('d', d, 'is_schedule_active')}"
    queries["deployment"] = select(
        c("d", d, f"{stamps} flow_id work_queue_id storage_document_id infrastructure_document_id")
        + c("d", d, "last_polled name version description work_queue_name path entrypoint manifest_path")
        + c("d", d, "status concurrency_limit enforce_parameter_schema infra_overrides parameters")
        + c("d", d, "pull_steps tags parameter_openapi_schema created_by updated_by labels")
        + [f'{paused} AS "paused"'],
        "FROM deployment d",
    )
    s = "deployment_schedule"
    if s in db.columns:
        catchup = db.col("s", s, "catchup")
        if db.dialect == "sqlite":
            extra = (
                f"json_object('max_active_runs', {db.col('s', s, 'max_active_runs')}, 'catchup', "
                f"json(CASE WHEN {catchup} THEN 'true' WHEN {catchup} IS NULL THEN 'null' ELSE 'false' END))"
            )
        else:
            extra = (
                f"CAST(json_build_object('max_active_runs', {db.col('s', s, 'max_active_runs')}, "
                f"'catchup', {catchup}) AS TEXT)"
            )
        if "catchup" not in db.columns[s]:
            extra = "NULL"
        parameters = db.col("s", s, "parameters")
        columns = c("s", s, f"{stamps} deployment_id schedule active max_scheduled_runs slug")
        columns += [f"COALESCE({parameters}, '{{}}') AS \"parameters\"", f'{extra} AS "extra"']
        queries[s] = select(columns, "FROM deployment_schedule s")
    elif "schedule" in db.columns[d]:
        where = f"WHERE {db.col('d', d, 'schedule')} IS NOT NULL"
        queries[s] = select(c("d", d, f"{stamps} schedule"), f"FROM deployment d {where}")
    r = "flow_run"
    details = db.col("s", "flow_run_state", "state_details")
    queries["flow_run"] = select(
        c("r", r, f"{stamps} flow_id deployment_id work_queue_id parent_task_run_id")
        + c("r", r, "infrastructure_document_id state_id expected_start_time next_scheduled_start_time")
        + c("r", r, "start_time end_time name flow_version idempotency_key state_type state_name")
        + c("r", r, "auto_scheduled run_count infrastructure_pid deployment_version parameters tags")
        + c("r", r, "empirical_policy job_variables labels created_by")
        + [
            f"COALESCE({db.col('r', r, 'work_queue_name')}, {db.col('q', 'work_queue', 'name')}) "
            'AS "work_queue_name"',
            f'{db.col("s", "flow_run_state", "message")} AS "state_message"',
            f"COALESCE({db.col('r', r, 'state_timestamp')}, "
            f'{db.col("s", "flow_run_state", "timestamp")}) AS "state_timestamp"',
            f'{details} AS "state_details"',
            f'{db.json_get(details, "scheduled_time")} AS "scheduled_time"',
            f'{db.seconds("r", r, "total_run_time")} AS "total_run_time"',
        ],
        "FROM flow_run r LEFT JOIN flow_run_state s ON s.id = r.state_id "
        "LEFT JOIN work_queue q ON q.id = r.work_queue_id",
    )
    t = "task_run"
    queries["task_run"] = select(
        c("t", t, f"{stamps} flow_run_id state_id start_time end_time expected_start_time")
        + c("t", t, "cache_expiration name task_key dynamic_key state_type state_name task_version")
        + c("t", t, "cache_key run_count flow_run_run_count tags task_inputs empirical_policy labels")
        + [
            f"COALESCE({db.col('t', t, 'state_timestamp')}, "
            f'{db.col("s", "task_run_state", "timestamp")}) AS "state_timestamp"',
            f'{db.col("s", "task_run_state", "message")} AS "state_message"',
            f'{db.col("s", "task_run_state", "state_details")} AS "state_details"',
            f'{db.seconds("t", t, "total_run_time")} AS "total_run_time"',
        ],
        "FROM task_run t LEFT JOIN task_run_state s ON s.id = t.state_id",
    )
    return queries


def _rows(db: PrefectDb, query: str, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The query's rows as frames of at most ``chunk_rows`` (streamed with ``COPY`` on PostgreSQL)."""
    if db.dialect != "sqlite":
        yield from copy_frames(db.conn, query, chunk_rows)
        return
    cur = db.conn.execute(query)
    try:
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(chunk_rows):
            yield pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    finally:
        cur.close()


def _time(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as UTC times: read as such from PostgreSQL, parsed from SQLite's text."""
    if frame.schema[name] == _UTC:
        return pl.col(name)
    return pl.col(name).cast(pl.String).str.to_datetime(_TIME_FORMAT, time_zone="UTC", strict=False)


def _seconds(micros: pl.Series) -> pl.Series:
    """Whole microseconds as float seconds, correctly rounded as Python's ``timedelta.total_seconds``.

    Polars divides by a constant as a multiplication by its inverse (one ulp off at times);
    Arrow divides. Beyond 2**53 microseconds (285 years) a float no longer holds the count
    exactly, so such a column is converted through its decimal text instead.
    """
    import pyarrow.compute as pc

    largest = micros.abs().max()
    if largest is not None and largest >= 2**53:  # type: ignore[operator]
        whole = (micros // 1_000_000).cast(pl.String)
        fraction = (micros % 1_000_000).cast(pl.String).str.zfill(6)
        return (whole + "." + fraction).cast(pl.Float64)
    divided = pc.divide(micros.cast(pl.Float64).to_arrow(), 1_000_000.0)
    return pl.Series(micros.name, divided, dtype=pl.Float64)


def _micros(seconds: pl.Expr) -> pl.Expr:
    return (seconds.cast(pl.Float64) * 1_000_000).round().cast(pl.Int64)


def _estimates(frame: pl.DataFrame, now: datetime, *, delta: bool) -> pl.DataFrame:
    """Prefect's per-request estimates (run time so far, lateness) as of ``now``."""
    running = pl.col("state_type").cast(pl.String) == "RUNNING"
    since_state = (pl.lit(now) - _time(frame, "state_timestamp")).dt.total_microseconds()
    total = _micros(pl.col("total_run_time"))
    columns = [pl.when(running).then(total + since_state).otherwise(total).alias("estimated_run_time")]
    if delta:
        start, expected = _time(frame, "start_time"), _time(frame, "expected_start_time")
        late = (
            start.is_null()
            & expected.is_not_null()
            & (expected < pl.lit(now))
            & ~pl.col("state_type").cast(pl.String).is_in(_TERMINAL)
        )
        gap = (
            pl.when(start.is_not_null() & expected.is_not_null() & (start > expected))
            .then((start - expected).dt.total_microseconds())
            .when(late)
            .then((pl.lit(now) - expected).dt.total_microseconds())
            .otherwise(0)
        )
        columns.append(gap.alias("estimated_start_time_delta"))
    micros = frame.select(columns)
    return frame.with_columns(_seconds(column) for column in micros.get_columns())


def _batches(
    db: PrefectDb, table: str, query: str, chunk_rows: int, now: datetime, seen: dict[str, list[str]]
) -> Iterator[pl.DataFrame]:
    """The rows of ``table`` mapped to store columns, ``chunk_rows`` at a time (from PostgreSQL,
    the next chunk read while the caller writes this one: :func:`prefetch`)."""
    batches = _mapped(db, table, query, chunk_rows, now, seen)
    return batches if db.dialect == "sqlite" else prefetch(batches)


def _mapped(
    db: PrefectDb, table: str, query: str, chunk_rows: int, now: datetime, seen: dict[str, list[str]]
) -> Iterator[pl.DataFrame]:
    """:func:`_batches`, read in the caller's thread."""
    for frame in _rows(db, query, chunk_rows):
        frame = frame.with_columns(
            *(pl.col(c).cast(pl.Boolean) for c in frame.columns if c in _BOOLEANS),
            *(_tags(table, db.source, frame) if "tags" in frame.columns else ()),
            pl.lit(db.source).alias("_source"),
        )
        if "total_run_time" in frame.columns and frame.schema["total_run_time"] == pl.String:
            since_epoch = _time(frame, "total_run_time") - pl.lit(_EPOCH)
            micros = frame.select(since_epoch.dt.total_microseconds().alias("total_run_time"))
            frame = frame.with_columns(_seconds(micros.to_series()))
        if table == "flow_run":
            frame = _estimates(frame, now, delta=True)
        elif table == "task_run":
            frame = _estimates(frame, now, delta=False)
        elif table == "deployment_schedule" and "deployment_id" not in frame.columns:
            frame = frame.with_columns(
                pl.col("id").alias("deployment_id"),
                pl.col("id").map_elements(legacy_schedule_id, return_dtype=pl.String),
                pl.lit(True).alias("active"),
                pl.lit("{}").alias("parameters"),
            )
        if table in seen:
            seen[table].extend(frame["id"].to_list())
        yield frame


def _tags(table: str, source: str, frame: pl.DataFrame) -> list[pl.Expr]:
    """Decode the JSON tag lists; a malformed one is a :class:`SourceError` naming the row."""
    tags = pl.col("tags").cast(pl.String).str.json_decode(pl.List(pl.String))
    try:
        frame.select(tags)
    except pl.exceptions.PolarsError:
        for row_id, text in zip(frame["id"], frame["tags"], strict=True):
            try:
                pl.Series([text]).cast(pl.String).str.json_decode(pl.List(pl.String))
            except pl.exceptions.PolarsError:
                raise SourceError(f"{source}: {table} {row_id}: tags {text!r} is not a JSON list") from None
    return [tags]


def import_prefect_db(
    store: Store,
    source: DbSource,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> ImportReport:
    """Import a Prefect server database (any release 2.10 to 3.x) into ``store``.

    Flows, work pools and queues, deployments and their schedules, flow runs (with
    their current state's message, details and scheduled time) and task runs are read
    ``chunk_rows`` at a time, so memory stays bounded for millions of runs, and
    upserted by id in one transaction; an imported deployment keeps exactly the
    schedules the database gives it.

    Parameters
    ----------
    store
        The store to import into.
    source
        A SQLite ``prefect.db`` file (opened read-only as an immutable file: copy it
        first if a Prefect server is still writing to it) or a PostgreSQL URL
        ``postgresql://user:password@host:port/database`` (read in one read-only
        snapshot with server-side cursors).
    chunk_rows
        Rows per batch: at most this many rows of a table are in memory at once.
    progress
        Show a progress bar of the rows read (by default only on a terminal or in a notebook).

    Returns
    -------
    ImportReport
        For each store table, the rows the database gave it, as inserted or updated counts.

    Raises
    ------
    SourceError
        The file is not SQLite, not a Prefect database, of an unknown schema revision
        (the message names it and the releases deploykit reads), or the PostgreSQL
        server cannot be reached, refuses the login or lacks the database (the message
        says which, without the password); nothing is written.
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
    db = open_prefect_db(source)
    try:
        queries = _queries(db)
        counts = {t: db.execute(f"SELECT count(*) FROM ({q}) n")[0][0] for t, q in queries.items()}
        now = _as_of(db)
        seen: dict[str, list[str]] = {"deployment": [], "deployment_schedule": []}
        tables = {
            t: (counts[t], partial(_batches, db, t, q, chunk_rows, now, seen)) for t, q in queries.items()
        }
        return load_chunked(store, tables, db.source, progress=progress, after=_drop_stale(seen))
    finally:
        db.close()


def _as_of(db: PrefectDb) -> datetime:
    """When the database last changed a run: Prefect's per-request estimates are computed as of
    then, so importing the same database twice gives the same rows."""
    newest = [
        db.execute(f"SELECT max({db.col('t', table, 'updated')}) FROM {table} t")[0][0]
        for table in ("flow_run", "task_run")
    ]
    stamps = [t.astimezone(UTC) for t in newest if isinstance(t, datetime)]  # PostgreSQL's
    times = pl.Series([t for t in newest if isinstance(t, str)], dtype=pl.String)  # SQLite's text
    parsed = times.str.to_datetime(_TIME_FORMAT, time_zone="UTC", strict=False).drop_nulls().to_list()
    return max(stamps + parsed, default=None) or datetime.now(UTC)


def _drop_stale(seen: dict[str, list[str]]) -> Callable[[Any], None]:
    """Once written: remove stored schedules of the imported deployments that the source lacks."""

    def after(cur: Any) -> None:
        from deploykit.io._prefect_api import drop_stale_schedules

        drop_stale_schedules(
            cur,
            pl.DataFrame({"id": seen["deployment"]}, schema={"id": pl.String}),
            pl.DataFrame({"id": seen["deployment_schedule"]}, schema={"id": pl.String}),
        )

    return after
