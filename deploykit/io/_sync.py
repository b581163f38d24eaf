"""Incremental sync: bring a store up to date with a Prefect server, reading only what changed.

Prefect stamps every row it writes with ``updated``. A sync remembers, per source and
table, the newest ``updated`` it has seen (the *watermark*, a ``deploykit_meta`` key
``sync:<source>:<table>``) and next time reads only the rows stamped after it. Rows
read again with the same content are counted as unchanged and not written (the
writer's :meth:`~deploykit.models.writer.Writer.write_changes`). A Prefect REST API
source is read in full: no release's filters (2.10 to 3.x) take an ``updated``
criterion, and only flows and deployments can be sorted by it.

The watermark is the source's own clock, read in the same snapshot as the rows. A
row a server transaction stamped before the watermark but committed after the sync
read is missed until it changes again: ``full=True`` (``deploykit sync --full``) reads
everything again.

Deletions leave no stamp, so the source's ids are compared with the store's: first their
counts and hash sums (:mod:`~deploykit.io._digest`, computed by PostgreSQL: no id is
read), and only when these differ the ids themselves, in chunks. A stored row whose id
the source no longer has is deleted, children first, and references to it from
surviving rows are cleared, as Prefect's own ``ON DELETE SET NULL`` did in the source.
The store thus mirrors the source: rows created in the store itself are removed too.

Everything happens in one transaction, watermarks included: a failed sync leaves the
store as it was. The one exception: work pools and queues the source deleted are
deleted right after, in transactions of their own (:func:`deploykit.models.delete_deferred`).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl
from tqdm.auto import tqdm

from deploykit._errors import SourceError
from deploykit.io._bodies import legacy_schedule_id
from deploykit.io._chunks import AS_OF_READ, CHUNK_ROWS
from deploykit.io._digest import BackgroundDigests, Digest, store_digest
from deploykit.io._pg_copy import id_chunks
from deploykit.io._prefect_db import _batches, _queries, _rows, open_prefect_db
from deploykit.io._report import ImportReport
from deploykit.models import delete_deferred, delete_gone
from deploykit.models.writer import Batch, Writer, registered
from deploykit.store import STORED_TABLES, Store

WATERMARK_PREFIX = "sync:"
"""``deploykit_meta`` keys of the watermarks: ``sync:<source>:<table>``."""


class SourceReader(Protocol):
    """What a sync reads from a Prefect server database."""

    key: str
    """The source, as named in reports and watermark keys (never a password)."""
    tables: tuple[str, ...]
    """The store tables the source fills, parents first."""

    def batches(self, table: str, since: str | None) -> Iterator[Batch]:
        """Rows of ``table`` as store columns, only those stamped after ``since`` (all if None)."""

    def ids(self, table: str) -> Iterator[list[str]]:
        """Every id of ``table`` in the source, as text, in chunks."""

    def id_digest(self, table: str) -> Digest | None:
        """The count and hash sum of ``table``'s ids in the source (:mod:`~deploykit.io._digest`),
        or None when the source cannot compute it (then :meth:`ids` are compared)."""

    def high_water(self, table: str) -> str | None:
        """The newest ``updated`` stamp of ``table`` in the source, as text (None when empty)."""


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$")
"""How a watermark reads: Prefect's UTC time text (it is written into the SQL as a literal)."""
_BASE = re.compile(r"\bFROM (\w+) (\w+)\b")
"""The base table of an importer query and its alias: ``FROM flow_run r``."""


class _DbReader:
    """The importers' reader of a Prefect database, filtered on the base table's ``updated``.

    The filter applies to the stored column (``r.updated > '...'``), so Prefect's
    ``ix_<table>__updated`` index finds the changed rows.
    """

    def __init__(self, source: str | os.PathLike[str], chunk_rows: int):
        self.db = open_prefect_db(source)
        if self.db.dialect == "sqlite":
            self._read_live(Path(source))
        self.key = self.db.source if self.db.dialect != "sqlite" else str(Path(source).resolve())
        self.queries = _queries(self.db)
        self.tables = tuple(t for t in STORED_TABLES if t in self.queries)
        self.chunk_rows = chunk_rows
        self.now = datetime.now(UTC)
        self.digests = (
            BackgroundDigests(os.fspath(source), self.db.conn, self.queries)
            if self.db.dialect != "sqlite"
            else None
        )

    def _read_live(self, path: Path) -> None:
        """Read a SQLite source as a live file (its write-ahead log included), in one read
        transaction: the importers open it as an immutable file, which a server still
        writing to it is not, and a sync is for exactly such sources."""
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        except sqlite3.Error:
            return  # e.g. a write-ahead log we may not open: keep the immutable view
        self.db.conn.close()
        self.db.conn = conn

    def _base(self, table: str) -> tuple[str, str]:
        found = _BASE.search(self.queries[table])
        assert found is not None, table
        return found.group(1), found.group(2)

    def batches(self, table: str, since: str | None) -> Iterator[pl.DataFrame]:
        query = self.queries[table]
        if since is not None:
            if not _STAMP.match(since):
                raise SourceError(f"{self.key}: sync watermark {since!r} of {table} is not a time")
            name, alias = self._base(table)
            value = (
                f"CAST('{since}' AS TIMESTAMP WITH TIME ZONE)"
                if self.db.dialect != "sqlite"
                else f"'{since}'"
            )
            glue = " AND " if " WHERE " in query[query.index(f"FROM {name} {alias}") :] else " WHERE "
            query = f"{query}{glue}{alias}.updated > {value}"
        return _batches(self.db, table, query, self.chunk_rows, self.now, {})

    def ids(self, table: str) -> Iterator[list[str]]:
        query = f"SELECT id FROM ({self.queries[table]}) q"
        if self.db.dialect != "sqlite":
            chunks = id_chunks(self.db.conn, query, self.chunk_rows)
        else:
            frames = _rows(self.db, query, self.chunk_rows)
            chunks = (frame["id"].cast(pl.String).to_list() for frame in frames)
        legacy = self._legacy(table)
        for ids in chunks:
            yield [legacy_schedule_id(i) for i in ids] if legacy else ids

    def id_digest(self, table: str) -> Digest | None:
        if self.digests is None or self._legacy(table):
            return None  # no hash function in SQLite (a local file's ids read fast); ids made here
        return self.digests.get(table)

    def _legacy(self, table: str) -> bool:
        """Whether the table's ids are made here: a release before ``deployment_schedule`` had
        one schedule per deployment, whose id :func:`legacy_schedule_id` derives."""
        return table == "deployment_schedule" and "deployment_schedule" not in self.db.columns

    def high_water(self, table: str) -> str | None:
        name, _ = self._base(table)
        # the raw column (Prefect's index answers max), never later than now: a row stamped
        # in the future (a skewed clock) is read again until its time has come
        if self.db.dialect == "sqlite":
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return self.db.execute(f"SELECT min(max(updated), ?) FROM {name}", (now,))[0][0]
        rows = self.db.execute(
            "SELECT to_char(least(m, now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
            f"FROM (SELECT max(updated) AS m FROM {name}) x WHERE m IS NOT NULL"
        )
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self.digests is not None:
            self.digests.close()
        self.db.close()


class _ApiReader:
    """Everything a Prefect server's REST API serves, fetched (and checked) into a scratch store.

    No release's filters (2.10 to 3.x) take an ``updated`` criterion, and only flows and
    deployments sort by it, so an API sync reads every object: what it saves is the
    writing (unchanged rows are not written) and it still finds deletions.
    """

    def __init__(self, url: str, api_key: str | None, chunk_rows: int, progress: bool | None):
        from deploykit.io._fetch import fetch_prefect

        self.scratch = Store()
        self.key = url.rstrip("/")
        fetch_prefect(self.scratch, url, api_key, progress=progress)
        self.tables = STORED_TABLES
        self.chunk_rows = chunk_rows

    def batches(self, table: str, since: str | None) -> Iterator[Batch]:
        yield from self.scratch.sql(f"SELECT * FROM {table}").iter_slices(self.chunk_rows)

    def ids(self, table: str) -> Iterator[list[str]]:
        yield self.scratch.sql(f"SELECT CAST(id AS VARCHAR) AS id FROM {table}")["id"].to_list()

    def id_digest(self, table: str) -> Digest | None:
        return None

    def high_water(self, table: str) -> str | None:
        return None

    def close(self) -> None:
        self.scratch.close()


@contextmanager
def open_reader(
    source: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> Iterator[SourceReader]:
    """A reader of ``source``: a Prefect server database (a SQLite file or a PostgreSQL
    URL) or a Prefect REST API (an ``http(s)://.../api`` URL)."""
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        reader: _DbReader | _ApiReader = _ApiReader(text, api_key, chunk_rows, progress)
    else:
        reader = _DbReader(source, chunk_rows)
    try:
        yield reader
    finally:
        reader.close()


def sync_prefect(
    store: Store,
    source: str | os.PathLike[str],
    *,
    full: bool = False,
    api_key: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> ImportReport:
    """Bring ``store`` up to date with a Prefect server, reading only what changed.

    The first sync from a source reads every row; later ones read the rows whose
    ``updated`` stamp is newer than the newest the previous sync saw, and the source's
    ids, to delete from the store what the source deleted. Rows read with the content
    already stored are not written.

    Parameters
    ----------
    store
        The store to bring up to date: it mirrors the source afterwards (rows the
        source does not have are deleted, including rows created in the store).
    source
        A Prefect server database: a ``prefect.db`` SQLite file or a
        ``postgresql://user:password@host:port/database`` URL; or a Prefect REST API
        URL (``http://127.0.0.1:4200/api``): no release's API filters on ``updated``,
        so every object is fetched, and only what differs is written.
    full
        Read every row again, not only the changed ones (rows changed in the store
        alone are then restored from the source).
    api_key
        Prefect Cloud API key, for an API URL.
    chunk_rows
        Rows per batch: memory stays bounded whatever the source size.
    progress
        Show a progress bar (``None``: only on a terminal or in a notebook).

    Returns
    -------
    ImportReport
        Rows inserted, updated, unchanged and deleted per table (``synced=True``).

    Raises
    ------
    SourceError
        The source cannot be read, or holds values the store refuses.
    FetchError
        The API cannot be read (see :func:`~deploykit.io.fetch_prefect`).
    IntegrityError
        A dangling reference. In both cases nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> sync_prefect(Store(), pathlib.Path(tempfile.mkdtemp()) / "missing.db")
    Traceback (most recent call last):
    ...
    deploykit.SourceError: ...missing.db: no such database file
    """
    with open_reader(source, api_key=api_key, chunk_rows=chunk_rows, progress=progress) as reader:
        return sync_from(store, reader, full=full, progress=progress)


def sync_from(
    store: Store, reader: SourceReader, *, full: bool = False, progress: bool | None = None
) -> ImportReport:
    """Sync ``store`` from an open ``reader`` (see :func:`sync_prefect`), in one transaction."""
    report = ImportReport(source=reader.key, synced=True)
    disable = None if progress is None else not progress
    with tqdm(unit="rows", desc=f"sync {reader.key}", disable=disable) as bar, store.transaction() as cur:
        writer = Writer(cur, invalid=SourceError)
        marks: dict[str, str] = {}
        written: dict[str, tuple[int, int]] = {}
        for table in reader.tables:
            key = f"{WATERMARK_PREFIX}{reader.key}:{table}"
            since = None if full else _meta(cur, key)
            high = reader.high_water(table)
            inserted = updated = 0
            for batch in reader.batches(table, since):
                i, u, _ = writer.write_changes(table, batch, source=reader.key, ignore=AS_OF_READ)
                inserted, updated = inserted + i, updated + u
                bar.set_postfix_str(table)
                bar.update(batch.height if isinstance(batch, pl.DataFrame) else batch.num_rows)
            written[table] = inserted, updated
            if high is not None:
                marks[key] = str(high)
        present, deferred = _delete_missing(cur, reader, report)
        writer.finish(reader.key)
        for table in reader.tables:
            inserted, updated = written[table]
            unchanged = present[table] - inserted - updated
            report.add(table, inserted=inserted, updated=updated, unchanged=unchanged)
        for key, value in marks.items():
            if _meta(cur, key) != value:
                cur.execute("INSERT OR REPLACE INTO deploykit_meta VALUES ($k, $v)", {"k": key, "v": value})
    delete_deferred(store, deferred)  # now unreferenced: deletable
    return report


def _meta(cur: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = cur.execute("SELECT value FROM deploykit_meta WHERE key = $k", {"k": key}).fetchall()
    return rows[0][0] if rows else None


def _delete_missing(
    cur: duckdb.DuckDBPyConnection, reader: SourceReader, report: ImportReport
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Delete the stored rows whose ids the source no longer has (:func:`delete_gone`).

    Returns the source's row count per table, and the ids of the pools and queues to
    delete once this transaction is committed (:func:`delete_deferred`).
    """
    present: dict[str, int] = {}
    gone: dict[str, str] = {}
    for table in reader.tables:
        gone[table] = f"_dk_sync_gone_{table}"
        digest = reader.id_digest(table)
        if digest is not None and store_digest(cur, table, count=digest[0]) == digest:
            present[table] = digest[0]  # the same ids: nothing to delete
            cur.execute(f"CREATE OR REPLACE TEMP TABLE {gone[table]} (id UUID)")
            continue
        ids = f"_dk_sync_ids_{table}"
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {ids} (id UUID)")
        for chunk in reader.ids(table):
            with registered(cur, "_dk_sync_chunk", pl.DataFrame({"id": chunk}, schema={"id": pl.String})):
                cur.execute(f"INSERT INTO {ids} SELECT CAST(id AS UUID) FROM _dk_sync_chunk")
        present[table] = cur.execute(f"SELECT count(*) FROM {ids}").fetchall()[0][0]
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {gone[table]} AS "
            f"SELECT id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {ids} s WHERE s.id = t.id)"
        )
        cur.execute(f"DROP TABLE {ids}")
    counts, deferred = delete_gone(cur, reader.tables, gone)
    for table in reader.tables:
        report.add(table, deleted=counts[table])
        cur.execute(f"DROP TABLE {gone[table]}")
    return present, deferred
