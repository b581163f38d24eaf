"""Shared plumbing of the importers: batches of each table, parents first, into the models' writer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import duckdb
import polars as pl
from tqdm.auto import tqdm

from deploykit._errors import SourceError
from deploykit.io._report import ImportReport
from deploykit.models.writer import LOAD_ORDER, Batch, Writer
from deploykit.store import Store

AS_OF_READ = ("estimated_run_time", "estimated_start_time_delta")
"""Columns the importers compute as of the read (Prefect computes them per request): a row
whose other columns are unchanged is unchanged, and keeps its stored estimates."""

CHUNK_ROWS = 100_000
"""Rows per batch of a chunked import: bounds memory whatever the source size."""

MAX_CHUNK_ROWS = 10_000_000
"""Largest ``chunk_rows`` an import accepts."""


def check_chunk_rows(chunk_rows: int) -> int:
    """``chunk_rows`` when it is a whole number from 1 to ``MAX_CHUNK_ROWS``, else a ValueError."""
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or not 1 <= chunk_rows <= MAX_CHUNK_ROWS
    ):
        raise ValueError(
            f"chunk_rows must be a whole number from 1 to {MAX_CHUNK_ROWS:,}, got {chunk_rows!r}"
        )
    return chunk_rows


Batches = Callable[[], Iterator[Batch]]
"""A table's batches, produced lazily (one in memory at a time)."""

T = TypeVar("T")


def prefetch(items: Iterable[T]) -> Iterator[T]:
    """``items``, the next one made in a thread while the caller works on this one.

    Reading the source (PostgreSQL's ``COPY``, Arrow's parser) and writing the store
    (DuckDB) both run outside the GIL, so they overlap. The thread starts on an item
    only once the caller has taken the previous one, so at most two are in memory (the
    caller's and the next). An error of the producer surfaces here; when the caller
    stops early (or fails), the producer is stopped and its iterator closed in its own
    thread before this returns.
    """
    ready: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def handed(kind: str, value: Any) -> bool:
        """Give the caller an item and wait until it takes it (False: the caller stopped)."""
        ready.put((kind, value))
        while not taken.acquire(timeout=0.1):
            if stop.is_set():
                return False
        return not stop.is_set()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not handed("item", item):
                    break
            else:
                handed("end", None)
        except BaseException as exc:  # handed to the caller, raised there
            handed("error", exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="deploykit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            taken.release()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def write_batches(
    cur: duckdb.DuckDBPyConnection,
    tables: Mapping[str, Callable[[], Iterable[Batch]]],
    source: str,
    report: ImportReport,
    *,
    done: Callable[[str, int], None] = lambda table, rows: None,
) -> None:
    """Upsert each table's batches by id, parents first, inside the caller's transaction.

    A row read again with the same content is counted unchanged and not rewritten (issue
    12: re-importing unchanged data reports "unchanged"). Bad values raise
    :class:`SourceError` naming the source, row, field and value; ``done`` hears of each
    batch written (table, rows).
    """
    writer = Writer(cur, invalid=SourceError)
    for table in LOAD_ORDER:
        if table not in tables:
            continue
        for batch in tables[table]():
            counts = writer.write_changes(table, batch, source=source, ignore=AS_OF_READ)
            report.add(table, **dict(zip(("inserted", "updated", "unchanged"), counts, strict=True)))
            done(table, batch.height if isinstance(batch, pl.DataFrame) else batch.num_rows)
    writer.finish(source)


def load_chunked(
    store: Store,
    tables: Mapping[str, tuple[int, Batches]],
    source: str,
    *,
    progress: bool | None = None,
    after: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> ImportReport:
    """Load each table's batches, parents first, in one transaction with one progress bar.

    ``tables`` maps a table to ``(row count, batch factory)``. ``progress=None`` shows
    the bar only on a terminal or in a notebook (tqdm's automatic choice). ``after``
    runs inside the transaction once every batch is written.
    """
    report = ImportReport(source=source)
    total = sum(count for count, _ in tables.values())
    disable = None if progress is None else not progress

    def done(table: str, rows: int) -> None:
        bar.set_postfix_str(table)
        bar.update(rows)

    with (
        tqdm(total=total, unit="rows", desc=f"import {source}", disable=disable) as bar,
        store.transaction() as cur,
    ):
        write_batches(cur, {t: batches for t, (_, batches) in tables.items()}, source, report, done=done)
        if after is not None:
            after(cur)
    return report
