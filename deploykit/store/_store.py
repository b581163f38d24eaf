"""The embedded DuckDB store: schema, transactions and ad hoc queries.

A :class:`Store` is the "session" every operation takes first. Each public write runs
inside one :meth:`Store.transaction`: it is applied whole or not at all, also when the
process is killed part way (DuckDB's write-ahead log is replayed on the next open, and
an unfinished transaction is dropped).

Sharing a store file (see ``_connection`` for the mechanism and its measured cost): a
file ``Store`` holds DuckDB's file lock only *during* an operation, attaching the file
when it starts and detaching it when it ends. So a notebook that keeps a ``Store`` open
does not lock the CLI out. Reads take a shared lock (many processes may read at once),
writes an exclusive one; an operation that finds the file busy in another process waits
up to ``timeout`` seconds (with backoff), then raises :class:`StoreError`. Inside one
process every ``Store`` on a file shares one attachment and writes take turns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import polars as pl

from deploykit._errors import StoreError
from deploykit.store._connection import (
    RECOVER,
    FileHandle,
    MemoryHandle,
    check_path,
    check_timeout,
    file_handle,
    forget,
)
from deploykit.store._ddl import DDL, SCHEMA_VERSION, STORED_TABLES, TABLE_SOURCES
from deploykit.store._migrations import migrate, record

T = TypeVar("T")


@dataclass
class ScheduleSettings:
    """Defaults of ``schedule_runs`` (Prefect's scheduler settings), overridable per store."""

    min_runs: int = 3
    max_runs: int = 100
    min_time: timedelta = timedelta(hours=1)
    max_time: timedelta = timedelta(days=100)


class Store:
    """An embedded deploykit store: in memory by default, or a DuckDB file.

    Parameters
    ----------
    path
        ``None`` (or ``":memory:"``) for an in-memory store, else a file path;
        the file is created with deploykit's schema if missing.
    read_only
        Open an existing file for reading only: writes raise :class:`StoreError`. An
        older file must be opened writable once, to migrate it.
    timeout
        Seconds each operation waits (retrying with backoff) while another process is
        in the middle of an operation on the file; then :class:`StoreError`. ``0`` (the
        default) fails at once. Must be finite and ``>= 0``.

    A file store holds the file's lock only during an operation (a read, a write, a
    ``with store.transaction():`` block), never between: other processes (the CLI, a
    second notebook) can read and write the file while this ``Store`` is open and idle.
    In one process, ``Store`` objects on the same file share one connection, and must
    all be writable or all ``read_only``.

    Opening an existing file first checks it without writing: a file that is not a
    deploykit store (another DuckDB database, a truncated or empty file, a FIFO or
    directory) or that was written by a newer deploykit raises :class:`StoreError` and
    is left untouched. A file from an older deploykit is migrated in one transaction.

    Examples
    --------
    >>> with Store() as store:
    ...     store.sql("SELECT count(*) AS n FROM deployment")["n"][0]
    0
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        timeout: float = 0.0,
    ):
        self.path: Path | None = None if path in (None, ":memory:") else Path(path)  # type: ignore[arg-type]
        self.read_only = read_only
        self.timeout = check_timeout(timeout)
        self.schedule_settings = ScheduleSettings()
        self._closed = False
        if self.path is None:
            self._handle: FileHandle | MemoryHandle = MemoryHandle()
            self._create_schema()
            return
        check_path(self.path, read_only=read_only)
        handle = self._handle = file_handle(self.path)
        _share(handle, self)
        try:
            self._open_file(handle)
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store; further use raises an error. A file store holds no lock after."""
        if self._closed:
            return
        self._closed = True
        handle = self._handle
        if isinstance(handle, MemoryHandle):
            handle.close()
            return
        handle.stores.discard(self)
        handle.read_only_stores.discard(self)
        forget(handle)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._where!r}{', read_only=True' if self.read_only else ''})"

    @property
    def _where(self) -> str:
        return str(self.path) if self.path else ":memory:"

    def _live(self) -> FileHandle | MemoryHandle:
        if self._closed:
            raise duckdb.ConnectionException(f"store {self._where} is closed")
        return self._handle

    # -- connections and transactions ------------------------------------------------------

    def cursor(self) -> Any:
        """This thread's DuckDB cursor for the operation it is in.

        Inside :meth:`transaction` (or for an in-memory store) this is a DuckDB
        connection. Outside any operation on a file store, it runs each statement as an
        operation of its own (attach, run, fetch all rows, detach): group statements in a
        ``with store.transaction() as cur:`` block to attach once and see one snapshot.
        """
        cur = self._live().current()
        return cur if cur is not None else _OneShotCursor(self)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run the block in one transaction; nested uses join the outer one.

        Holds the file's lock for the block. Writers in one process take turns; on any
        exception everything is rolled back and that exception propagates (a failing
        rollback does not replace it). DuckDB's errors for a read-only or full disk
        become :class:`StoreError`. On a ``read_only`` store the block reads one snapshot.
        """
        handle = self._live()
        local = handle.local
        if getattr(local, "depth", 0):
            local.depth += 1
            try:
                yield handle.current()  # type: ignore[misc]
            finally:
                local.depth -= 1
            return
        with handle.operation(write=not self.read_only, timeout=self.timeout) as cur, handle.write_lock:
            try:
                cur.begin()
            except duckdb.Error as exc:
                raise self._translated(exc) or exc from None
            local.depth = 1
            try:
                yield cur
            except BaseException as exc:
                cause = _unmasked(exc)
                _rollback(cur, cause)
                better = self._translated(cause)
                if better is not None:
                    raise better from cause
                if cause is not exc:
                    cause.add_note(f"(cleanup afterwards failed with: {exc})")
                    raise cause from None
                raise
            finally:
                local.depth = 0
            try:
                cur.commit()
            except duckdb.Error as exc:
                _rollback(cur, exc)
                raise (
                    self._translated(exc) or StoreError(f"store {self._where}: commit failed: {exc}")
                ) from exc

    @contextmanager
    def hold(self, *, write: bool = False) -> Iterator[Store]:
        """Keep the file attached for the block: the operations inside share one open.

        Outside ``hold`` (and ``transaction``) each operation on a file store opens and
        releases the file (a few ms each); a loop of many small operations runs faster
        inside one ``hold``. Other processes are kept out for the block's length: a
        read-only hold (the default) still lets them read; ``write=True`` allows writes
        inside it and keeps everyone else out. Each operation inside still commits on its own.

        Examples
        --------
        >>> with Store() as store, store.hold():
        ...     store.sql("SELECT 1 AS one")["one"][0]
        1
        """
        with self._live().operation(write=write and not self.read_only, timeout=self.timeout):
            yield self

    def _translated(self, exc: BaseException) -> StoreError | None:
        """A :class:`StoreError` for DuckDB's errors about the file itself, else ``None``."""
        text = str(exc)
        damaged = self._damaged(exc)
        if damaged is not None:
            return damaged
        if isinstance(exc, duckdb.InvalidInputException) and "read-only mode" in text:
            return StoreError(
                f"store {self._where} is open read-only: nothing was written; "
                "open it with Store(path) (without read_only=True) to write"
            )
        if isinstance(exc, duckdb.IOException | duckdb.FatalException) or (
            isinstance(exc, duckdb.TransactionException) and "commit" in text.lower()
        ):
            first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
            return StoreError(
                f"could not write store {self._where} ({first}): nothing of this operation "
                "was saved and the file keeps its last committed state; free disk space "
                "(or fix the file's permissions) and retry"
            )
        return None

    def _damaged(self, exc: BaseException) -> StoreError | None:
        """A :class:`StoreError` for a block of the file failing DuckDB's checksum, else ``None``."""
        text = str(exc)
        if not isinstance(exc, duckdb.Error) or "corrupt database file" not in text.lower():
            return None
        first = text.strip().splitlines()[0]
        return StoreError(
            f"store {self._where} is damaged ({first}): nothing of this operation was read or "
            f"saved. {RECOVER}"
        )

    def _run(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` in this thread's operation, or as an operation of its own.

        Alone, it attaches read-only; a statement DuckDB refuses as a write is re-run
        attached writable (DuckDB refuses it before executing anything). A block failing
        its checksum is a :class:`StoreError`.
        """
        try:
            return self._run_once(work)
        except duckdb.Error as exc:
            damaged = self._damaged(exc)
            if damaged is None:
                raise
            raise damaged from exc

    def _run_once(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """:meth:`_run` with DuckDB's errors as raised."""
        handle = self._live()
        cur = handle.current()
        if cur is not None:
            return work(cur)
        try:
            with handle.operation(write=False, timeout=self.timeout) as cur:
                return work(cur)
        except duckdb.InvalidInputException as exc:
            if "read-only mode" not in str(exc):
                raise
            if self.read_only:
                raise self._translated(exc) from exc  # type: ignore[misc]
        with handle.operation(write=True, timeout=self.timeout) as cur:
            return work(cur)

    # -- ad hoc analysis -------------------------------------------------------------------

    def sql(self, query: str, **params: Any) -> pl.DataFrame:
        """Run a read query with named ``$parameters`` and return a Polars DataFrame.

        Examples
        --------
        >>> with Store() as store:
        ...     store.sql("SELECT $x + 1 AS y", x=41)["y"][0]
        42
        """
        return self._run(lambda cur: cur.sql(query, params=params or None).pl())

    def table(self, name: str) -> pl.LazyFrame:
        """A table (``flow``, ``deployment``, ``flow_run``, ...) as a Polars LazyFrame.

        ``deployment`` also carries Prefect 2.10's ``is_schedule_active`` and ``schedule``
        (views of ``paused`` and of table ``deployment_schedule``, SPEC.md section 6).

        A file store reads the table when the frame is collected (column selections,
        filters and ``head`` are pushed into DuckDB), holding the lock only then.

        Examples
        --------
        >>> with Store() as store:
        ...     store.table("work_pool").select("name").collect()["name"].to_list()
        []
        """
        if name not in STORED_TABLES:
            raise ValueError(f"unknown table {name!r}; tables are: {', '.join(STORED_TABLES)}")
        handle = self._live()
        if isinstance(handle, MemoryHandle):
            return handle.current().sql(TABLE_SOURCES.get(name, f"FROM {name}")).pl(lazy=True)
        from polars.io.plugins import register_io_source

        def collect(columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None) -> pl.DataFrame:
            def work(cur: duckdb.DuckDBPyConnection) -> pl.DataFrame:
                frame = cur.sql(TABLE_SOURCES.get(name, f"FROM {name}")).pl(lazy=True)
                if columns is not None:
                    frame = frame.select(columns)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if n_rows is not None:
                    frame = frame.head(n_rows)
                return frame.collect()

            return self._run(work)

        def source(
            columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _: int | None
        ) -> Iterator[pl.DataFrame]:
            yield collect(columns, predicate, n_rows)

        return register_io_source(source, schema=lambda: collect(None, None, 0).schema)

    def check_integrity(self) -> pl.DataFrame:
        """Rows whose references dangle (``table``, ``id``, ``column``, ``missing``); empty if none.

        Examples
        --------
        >>> with Store() as store:
        ...     store.check_integrity().height
        0
        """
        return self.sql(_INTEGRITY_SQL)

    # -- schema ----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self.transaction() as tx:
            _create(tx)

    def _open_file(self, handle: FileHandle) -> None:
        """Check an existing file read-only (once per process), then create or migrate."""
        assert self.path is not None
        existed = self.path.exists()
        if existed and not handle.checked:
            with handle.operation(write=False, timeout=self.timeout) as cur:
                tables = _tables(cur)
                if not tables:
                    raise StoreError(f"{self.path} is not a deploykit store (it has no tables)")
                version = _schema_version(cur, tables, self.path)
            if self.read_only and version < SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema {version}, older than this deploykit's "
                    f"{SCHEMA_VERSION}; open it writable once (Store(path)) to migrate it, "
                    "then read_only works"
                )
            handle.checked = True
        if self.read_only:
            return
        with self.transaction() as tx:
            tables = _tables(tx)
            if not tables and not existed:
                _create(tx)
            else:
                version = _schema_version(tx, tables, self.path)
                if version < SCHEMA_VERSION:
                    migrate(tx, version)
        handle.checked = True


def _share(handle: FileHandle, store: Store) -> None:
    """Register ``store`` on the file's handle; one access mode per file and process."""
    held = (
        handle.read_only_stores if not store.read_only else set(handle.stores) - set(handle.read_only_stores)
    )
    if held:
        have, want = ("read-only", "writable") if not store.read_only else ("writable", "read-only")
        raise StoreError(
            f"store {store.path} is already open {have} in this process; close that Store "
            f"before opening it {want} (or use the open one)"
        )
    handle.stores.add(store)
    if store.read_only:
        handle.read_only_stores.add(store)


def _create(cur: duckdb.DuckDBPyConnection) -> None:
    cur.execute(DDL)
    cur.execute("INSERT INTO deploykit_meta VALUES ('schema_version', $v)", {"v": str(SCHEMA_VERSION)})
    record(cur, "created")


def _unmasked(exc: BaseException) -> BaseException:
    """The error behind DuckDB's "Current transaction is aborted".

    Once a statement fails, every later statement of the transaction (a cleanup in a
    ``finally``, say) raises that instead; Python keeps the first one as ``__context__``.
    """
    while (
        isinstance(exc, duckdb.TransactionException)
        and "transaction is aborted" in str(exc)
        and isinstance(exc.__context__, Exception)
    ):
        exc = exc.__context__
    return exc


def _rollback(cur: duckdb.DuckDBPyConnection, exc: BaseException) -> None:
    """Roll back, keeping ``exc`` as the error to report if the rollback fails too."""
    try:
        cur.rollback()
    except duckdb.Error as failed:
        exc.add_note(f"(rolling back afterwards also failed: {failed})")


_INTEGRITY_SQL = """
SELECT 'deployment' AS "table", d.id, 'flow_id' AS "column", d.flow_id AS missing
FROM deployment d ANTI JOIN flow f ON f.id = d.flow_id
UNION ALL
SELECT 'flow_run', r.id, 'flow_id', r.flow_id FROM flow_run r ANTI JOIN flow f ON f.id = r.flow_id
UNION ALL
SELECT 'task_run', t.id, 'flow_run_id', t.flow_run_id
FROM task_run t ANTI JOIN flow_run r ON r.id = t.flow_run_id
UNION ALL
SELECT 'deployment_schedule', s.id, 'deployment_id', s.deployment_id
FROM deployment_schedule s ANTI JOIN deployment d ON d.id = s.deployment_id
"""


def _tables(cur: duckdb.DuckDBPyConnection) -> set[str]:
    rows = cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    return {row[0] for row in rows}


def _schema_version(cur: duckdb.DuckDBPyConnection, tables: set[str], path: Path | None) -> int:
    """The schema version of an existing store, or :class:`StoreError` if it is not usable."""
    if "deploykit_meta" not in tables:
        raise StoreError(f"{path} is a DuckDB file but not a deploykit store")
    row = cur.execute("SELECT value FROM deploykit_meta WHERE key = 'schema_version'").fetchall()
    text = row[0][0] if row else ""
    if not text.isdigit() or int(text) < 1:
        raise StoreError(f"{path} is not a valid deploykit store (schema version {text!r})")
    version = int(text)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer deploykit (schema {version}, "
            f"this one reads up to {SCHEMA_VERSION}); upgrade deploykit"
        )
    return version


class _OneShotCursor:
    """``Store.cursor()`` outside any operation on a file store: each statement is one operation.

    ``execute`` fetches every row before the file is detached; ``sql`` returns a
    :class:`_OneShotRelation` that runs when a result is asked of it.
    """

    def __init__(self, store: Store):
        self._store = store

    def execute(self, query: str, parameters: Any = None) -> _Fetched:
        return self._store._run(lambda cur: _Fetched(cur.execute(query, parameters)))

    def sql(self, query: str, *, params: Any = None) -> _OneShotRelation:
        return _OneShotRelation(self._store, query, params)


class _Fetched:
    """The rows of a finished statement, answering DuckDB's fetch methods."""

    def __init__(self, result: duckdb.DuckDBPyConnection):
        self.description = result.description
        self._rows = result.fetchall() if result.description is not None else []

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None


class _OneShotRelation:
    """A query that runs as one operation when a result is asked (``pl()``, ``fetchall()``...).

    ``pl(lazy=True)`` is collected inside the operation and returned as a LazyFrame.
    """

    def __init__(self, store: Store, query: str, params: Any):
        self._store, self._query, self._params = store, query, params

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            def work(cur: duckdb.DuckDBPyConnection) -> Any:
                out = getattr(cur.sql(self._query, params=self._params), name)(*args, **kwargs)
                return out.collect().lazy() if isinstance(out, pl.LazyFrame) else out

            return self._store._run(work)

        return call
