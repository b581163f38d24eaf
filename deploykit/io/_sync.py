"""Incremental sync: bring a store up to date with a Prefect server's database, reading only what changed.

Prefect stamps every row it writes with ``updated``. A sync remembers, per source and
table, the newest ``updated`` it has seen (the *watermark*, a ``deploykit_meta`` key
``sync:<source>:<table>``) and next time reads only the rows stamped after it. Rows
read again with the same content are counted as unchanged and not written (the
writer's :meth:`~deploykit.models.writer.Writer.write_changes`).

Deletions leave no stamp, so the source's ids (ids only, in chunks) are compared with
the store's: a stored row whose id the source no longer has is deleted, children
first, and references to it from surviving rows are cleared, as Prefect's own
``ON DELETE SET NULL`` did in the source. The store thus mirrors the source: rows
created in the store itself are removed too.

Everything happens in one transaction, watermarks included: a failed sync leaves the
store as it was. The one exception: work pools and queues the source deleted are
deleted right after, in transactions of their own (see :data:`_KEY_TARGETS`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl
from tqdm.auto import tqdm

from deploykit._errors import SourceError
from deploykit.io._chunks import CHUNK_ROWS
from deploykit.io._prefect_db import _BOOLEANS, _QUERIES, _tags, open_prefect_db
from deploykit.io._report import ImportReport
from deploykit.models.writer import LOAD_ORDER, Batch, Writer, registered
from deploykit.store import Store

WATERMARK_PREFIX = "sync:"
"""``deploykit_meta`` keys of the watermarks: ``sync:<source>:<table>``."""

_SET_NULL: tuple[tuple[str, str, str], ...] = (
    ("deployment", "work_queue_id", "work_queue"),
    ("flow_run", "work_queue_id", "work_queue"),
    ("flow_run", "parent_task_run_id", "task_run"),
)
"""``(table, column, parent)``: Prefect's ``ON DELETE SET NULL`` foreign keys. Deleting the
parent clears the column in the source without stamping ``updated``, so a sync clears it
in the rows that survive (the cascading keys delete the rows themselves, which the id
comparison finds)."""


_KEY_TARGETS = ("work_queue", "work_pool")
"""Tables DuckDB foreign keys point at, children first. DuckDB checks a deletion against
the referencing rows as they were when the transaction began, so a pool or queue whose
references this sync cleared or deleted is deleted in a transaction of its own, after
the sync's (should that fail, the next sync deletes it)."""


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

    def high_water(self, table: str) -> str | None:
        """The newest ``updated`` stamp of ``table`` in the source, as text (None when empty)."""


class _SqliteReader:
    """Today's SQLite reader (``_prefect_db``'s queries), filtered by ``updated``."""

    def __init__(self, path: Path, chunk_rows: int):
        self.conn = open_prefect_db(path)
        self.key = str(path.resolve())
        self.tables = tuple(t for t in LOAD_ORDER if t in _QUERIES)
        self.chunk_rows = chunk_rows

    def batches(self, table: str, since: str | None) -> Iterator[pl.DataFrame]:
        query, params = _QUERIES[table], ()
        if since is not None:
            query, params = f"SELECT * FROM ({query}) WHERE updated > ?", (since,)
        cur = self.conn.execute(query, params)
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(self.chunk_rows):
            frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
            yield frame.with_columns(
                *(pl.col(c).cast(pl.Boolean) for c in names if c in _BOOLEANS),
                *(_tags(table, self.key, frame) if "tags" in names else ()),
                pl.lit(self.key).alias("_source"),
            )

    def ids(self, table: str) -> Iterator[list[str]]:
        cur = self.conn.execute(f"SELECT id FROM {table}")
        while rows := cur.fetchmany(self.chunk_rows):
            yield [r[0] for r in rows]

    def high_water(self, table: str) -> str | None:
        return self.conn.execute(f"SELECT max(updated) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


@contextmanager
def open_reader(source: str | os.PathLike[str], *, chunk_rows: int = CHUNK_ROWS) -> Iterator[SourceReader]:
    """A reader of the Prefect server database ``source`` (a SQLite file or a PostgreSQL URL)."""
    text = os.fspath(source)
    if text.startswith(("postgresql://", "postgres://")):
        raise SourceError(f"{_without_password(text)}: sync from PostgreSQL needs the PostgreSQL reader")
    reader = _SqliteReader(Path(text), chunk_rows)
    try:
        yield reader
    finally:
        reader.close()


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def sync_prefect(
    store: Store,
    source: str | os.PathLike[str],
    *,
    full: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> ImportReport:
    """Bring ``store`` up to date with a Prefect server database, reading only what changed.

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
        ``postgresql://user:password@host:port/database`` URL.
    full
        Read every row again, not only the changed ones (rows changed in the store
        alone are then restored from the source).
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
    with open_reader(source, chunk_rows=chunk_rows) as reader:
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
                i, u, _ = writer.write_changes(table, batch, source=reader.key)
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
    for table in _KEY_TARGETS:  # now unreferenced: deletable
        if deferred.get(table):
            with store.transaction() as cur:
                cur.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT CAST(unnest($ids) AS UUID))",
                    {"ids": deferred[table]},
                )
    return report


def _meta(cur: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = cur.execute("SELECT value FROM deploykit_meta WHERE key = $k", {"k": key}).fetchall()
    return rows[0][0] if rows else None


def _delete_missing(
    cur: duckdb.DuckDBPyConnection, reader: SourceReader, report: ImportReport
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Delete the stored rows whose ids the source no longer has.

    References to a deleted row from surviving rows are cleared first, then rows are
    deleted children first. Returns the source's row count per table, and the ids of
    the pools and queues to delete once this transaction is committed
    (:data:`_KEY_TARGETS`).
    """
    present: dict[str, int] = {}
    gone: dict[str, str] = {}
    for table in reader.tables:
        ids = f"_dk_sync_ids_{table}"
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {ids} (id UUID)")
        for chunk in reader.ids(table):
            with registered(cur, "_dk_sync_chunk", pl.DataFrame({"id": chunk}, schema={"id": pl.String})):
                cur.execute(f"INSERT INTO {ids} SELECT CAST(id AS UUID) FROM _dk_sync_chunk")
        present[table] = cur.execute(f"SELECT count(*) FROM {ids}").fetchall()[0][0]
        gone[table] = f"_dk_sync_gone_{table}"
        cur.execute(
            f"CREATE OR REPLACE TEMP TABLE {gone[table]} AS "
            f"SELECT id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {ids} s WHERE s.id = t.id)"
        )
        cur.execute(f"DROP TABLE {ids}")
    counts = {t: cur.execute(f"SELECT count(*) FROM {g}").fetchall()[0][0] for t, g in gone.items()}
    if any(counts.values()):
        for table, column, parent in _SET_NULL:
            if counts.get(parent) and table in gone:
                cur.execute(
                    f"UPDATE {table} SET {column} = NULL WHERE {column} IN (SELECT id FROM {gone[parent]}) "
                    f"AND id NOT IN (SELECT id FROM {gone[table]})"
                )
        for table in reversed(reader.tables):
            if counts[table] and table not in _KEY_TARGETS:
                cur.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {gone[table]})")
    deferred = {
        t: [str(r[0]) for r in cur.execute(f"SELECT id FROM {gone[t]}").fetchall()]
        for t in _KEY_TARGETS
        if counts.get(t)
    }
    for table in reader.tables:
        report.add(table, deleted=counts[table])
        cur.execute(f"DROP TABLE {gone[table]}")
    return present, deferred
