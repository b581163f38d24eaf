"""The embedded DuckDB store: connection, schema, transactions and ad hoc queries.

A :class:`Store` is the "session" every operation takes first. Each public operation
runs inside one :meth:`Store.transaction`: it is applied whole or not at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from deploykit._ddl import DDL, SCHEMA_VERSION, TABLES
from deploykit._errors import StoreError

_CONFIG = {"autoinstall_known_extensions": False}
"""Never download extensions: ICU, JSON and Parquet are built into the wheel."""


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
        Open an existing file for reading only; several processes may do so at once.

    Examples
    --------
    >>> with Store() as store:
    ...     store.sql("SELECT count(*) AS n FROM deployment")["n"][0]
    0
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False):
        self.path: Path | None = None if path in (None, ":memory:") else Path(path)  # type: ignore[arg-type]
        self.read_only = read_only
        self.schedule_settings = ScheduleSettings()
        self._conn = _connect(self.path, read_only)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._ensure_schema()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store; further use raises an error."""
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
        cur = self.cursor()
        tables = {
            row[0] for row in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if not tables:
            if self.read_only:
                raise StoreError(f"{self.path} is not a deploykit store (it has no tables)")
            with self.transaction() as tx:
                tx.execute(DDL)
                tx.execute(
                    "INSERT INTO deploykit_meta VALUES ('schema_version', $v)",
                    {"v": str(SCHEMA_VERSION)},
                )
            return
        if "deploykit_meta" not in tables:
            raise StoreError(f"{self.path} is a DuckDB file but not a deploykit store")
        row = cur.execute(
            "SELECT value FROM deploykit_meta WHERE key = 'schema_version'"
        ).fetchall()
        version = int(row[0][0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer deploykit (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION}); upgrade deploykit"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(f"{self.path} has an unknown schema version {version}")


_INTEGRITY_SQL = """
SELECT 'deployment' AS "table", d.id, 'flow_id' AS "column", d.flow_id AS missing
FROM deployment d ANTI JOIN flow f ON f.id = d.flow_id
UNION ALL
SELECT 'flow_run', r.id, 'flow_id', r.flow_id FROM flow_run r ANTI JOIN flow f ON f.id = r.flow_id
UNION ALL
SELECT 'task_run', t.id, 'flow_run_id', t.flow_run_id
FROM task_run t ANTI JOIN flow_run r ON r.id = t.flow_run_id
"""


def _connect(path: Path | None, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open DuckDB, turning its I/O errors into messages a user can act on."""
    if path is None:
        return _utc(duckdb.connect(":memory:", config=_CONFIG))
    if read_only and not path.exists():
        raise StoreError(f"store file {path} does not exist")
    try:
        return _utc(duckdb.connect(str(path), read_only=read_only, config=_CONFIG))
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError(f"store {path} is locked by another process") from None
        raise StoreError(f"cannot open store {path}: {text}") from None
    except duckdb.Error as exc:
        raise StoreError(f"{path} is not a valid deploykit store: {exc}") from None


def _utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Show and parse TIMESTAMPTZ values in UTC, whatever the machine's zone."""
    conn.execute("SET GLOBAL TimeZone = 'UTC'")
    return conn
