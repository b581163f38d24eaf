"""The embedded DuckDB store: connection, schema, transactions and ad hoc queries.

A :class:`Store` is the "session" every operation takes first. Each public operation
runs inside one :meth:`Store.transaction`: it is applied whole or not at all, also when
the process is killed part way (DuckDB's write-ahead log is replayed on the next open,
and an unfinished transaction is dropped).

Sharing a store file (DuckDB's file lock, as measured with DuckDB 2.0):

* **One writer process, or any number of reader processes, never both.** While a
  process has the file open writable, every other open fails (read-only ones too);
  while any process has it open read-only, writable opens fail. DuckDB does not
  queue: the open fails at once.
* deploykit turns that failure into ``StoreError("store ... is locked by another
  process (PID n)")``. ``Store(path, timeout=s)`` retries for up to ``s`` seconds
  first (default 0: fail at once). So a long-lived writer should open the store per
  batch of work (``with Store(path) as s: ...``) and readers pass a ``timeout``.
* Inside one process, open each file once and share the :class:`Store` between
  threads: each thread gets its own cursor, writes take turns, reads run alongside.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from deploykit._errors import StoreError
from deploykit.store._ddl import DDL, SCHEMA_VERSION, TABLES
from deploykit.store._migrations import migrate, record

_CONFIG = {"autoinstall_known_extensions": False, "index_scan_max_count": 32}
"""Never download extensions: ICU, JSON and Parquet are built into the wheel.

DuckDB answers a filter from an ART index when it matches at most
``max(index_scan_max_count, 0.1% of the table)`` rows, fetching them one by one. Its
default count, 2,048, made a work-pool filter matching 1,000 deployments fetch them
through the work-queue key's index: 10 ms, against 4.8 ms for a scan. Point lookups
(by id, by name) match one or a few rows and keep their index; timings at 100,000
deployments do not change.
"""


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
        Open an existing file for reading only; several processes may do so at once
        (but not while another process has it open writable). An older file must be
        opened writable once, to migrate it.
    timeout
        Seconds to keep retrying while another process holds the file's lock; then
        :class:`StoreError`. ``0`` (the default) fails at once.

    Opening an existing file first checks it without writing: a file that is not a
    deploykit store (another DuckDB database, a truncated or empty file) or that was
    written by a newer deploykit raises :class:`StoreError` and is left untouched. A
    file from an older deploykit is migrated to the current schema in one transaction.

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
        self.schedule_settings = ScheduleSettings()
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
        deadline = time.monotonic() + timeout
        if self.path is not None and (read_only or self.path.exists()):
            _check_file(self.path, read_only, timeout)
        self._conn = _connect(self.path, read_only, max(0.0, deadline - time.monotonic()))
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._write_lock = threading.RLock()
        try:
            self._ensure_schema()
        except BaseException:
            self._conn.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store and every thread's cursor; further use raises an error."""
        for cur in self._cursors:
            cur.close()
        self._conn.close()

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
        where = str(self.path) if self.path else ":memory:"
        return f"Store({where!r}{', read_only=True' if self.read_only else ''})"

    # -- connections and transactions ------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection (DuckDB connections are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
            self._local.depth = 0
            with self._write_lock:
                self._cursors.append(cur)
        return cur

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run the block in one transaction; nested uses join the outer one.

        Writers in one process take turns; on any exception everything is rolled back.
        """
        cur = self.cursor()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield cur
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            cur.begin()
            self._local.depth = 1
            try:
                yield cur
            except BaseException:
                cur.rollback()
                raise
            else:
                cur.commit()
            finally:
                self._local.depth = 0

    # -- ad hoc analysis -------------------------------------------------------------------

    def sql(self, query: str, **params: Any) -> pl.DataFrame:
        """Run a read query with named ``$parameters`` and return a Polars DataFrame.

        Examples
        --------
        >>> with Store() as store:
        ...     store.sql("SELECT $x + 1 AS y", x=41)["y"][0]
        42
        """
        return self.cursor().sql(query, params=params or None).pl()

    def table(self, name: str) -> pl.LazyFrame:
        """A table (``flow``, ``deployment``, ``flow_run``, ...) as a Polars LazyFrame.

        Examples
        --------
        >>> with Store() as store:
        ...     store.table("work_pool").select("name").collect()["name"].to_list()
        []
        """
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
        return self.cursor().sql(f"FROM {name}").pl(lazy=True)

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

    def _ensure_schema(self) -> None:
        """Create the schema in a new store, or check (and migrate) an existing one."""
        cur = self.cursor()
        tables = _tables(cur)
        if not tables:
            with self.transaction() as tx:
                tx.execute(DDL)
                tx.execute(
                    "INSERT INTO deploykit_meta VALUES ('schema_version', $v)",
                    {"v": str(SCHEMA_VERSION)},
                )
                record(tx, "created")
            return
        version = _schema_version(cur, tables, self.path)
        if version < SCHEMA_VERSION:
            with self.transaction() as tx:
                migrate(tx, version)


_INTEGRITY_SQL = """
SELECT 'deployment' AS "table", d.id, 'flow_id' AS "column", d.flow_id AS missing
FROM deployment d ANTI JOIN flow f ON f.id = d.flow_id
UNION ALL
SELECT 'flow_run', r.id, 'flow_id', r.flow_id FROM flow_run r ANTI JOIN flow f ON f.id = r.flow_id
UNION ALL
SELECT 'task_run', t.id, 'flow_run_id', t.flow_run_id
FROM task_run t ANTI JOIN flow_run r ON r.id = t.flow_run_id
"""


def _tables(cur: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


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


def _check_file(path: Path, read_only: bool, timeout: float) -> None:
    """Check an existing store file through a read-only connection, writing nothing.

    A foreign, damaged or newer file is refused before any writable open could touch
    it; an older one opened ``read_only`` is refused since migrating means writing.
    """
    if not path.exists():
        raise StoreError(f"store file {path} does not exist")
    try:
        probe = _connect(path, True, timeout, probe=True)
    except _SameProcess:
        return  # this process already has the file open writable: it was checked then
    try:
        tables = _tables(probe)
        if not tables:
            raise StoreError(f"{path} is not a deploykit store (it has no tables)")
        version = _schema_version(probe, tables, path)
    finally:
        probe.close()
    if read_only and version < SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema {version}, older than this deploykit's {SCHEMA_VERSION}; "
            "open it writable once (Store(path)) to migrate it, then read_only works"
        )


class _SameProcess(Exception):
    """This process already holds the file with the other access mode."""


_RETRY_SECONDS = 0.05
"""Pause between attempts to open a file whose lock another process holds."""


def _connect(
    path: Path | None, read_only: bool, timeout: float = 0.0, *, probe: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB, retrying a held lock up to ``timeout`` seconds, with actionable errors.

    ``probe``: a read-only check of a file this process already has open writable
    raises ``_SameProcess`` instead (the file was checked when first opened).
    """
    if path is None:
        return _utc(duckdb.connect(":memory:", config=_CONFIG))
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _utc(duckdb.connect(str(path), read_only=read_only, config=_CONFIG))
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise StoreError(f"cannot open store {path}: {text}") from None
            if time.monotonic() >= deadline:
                raise StoreError(_locked_message(path, text, timeout)) from None
            time.sleep(_RETRY_SECONDS)
        except duckdb.ConnectionException as exc:
            if "different configuration" not in str(exc):
                raise StoreError(f"cannot open store {path}: {exc}") from None
            if probe:
                raise _SameProcess from None
            held, wanted = ("writable", "read-only") if read_only else ("read-only", "writable")
            raise StoreError(
                f"store {path} is already open {held} in this process; "
                f"close that Store before opening it {wanted}"
            ) from None
        except duckdb.Error as exc:
            raise StoreError(f"{path} is not a valid deploykit store: {exc}") from None


def _locked_message(path: Path, text: str, timeout: float) -> str:
    """The lock error, naming the holder's PID when DuckDB reports it."""
    pid = re.search(r"\(PID (\d+)\)", text)
    holder = f" (PID {pid.group(1)})" if pid else ""
    waited = f" after waiting {timeout:g} s" if timeout else ""
    return (
        f"store {path} is locked by another process{holder}{waited}: one process may "
        "open it writable, or any number read-only, not both; pass timeout= to wait"
    )


def _utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Show and parse TIMESTAMPTZ values in UTC, whatever the machine's zone."""
    conn.execute("SET GLOBAL TimeZone = 'UTC'")
    return conn
