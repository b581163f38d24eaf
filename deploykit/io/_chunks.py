"""Shared plumbing of chunked imports: a progress bar over all tables of one source."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import polars as pl
import pyarrow as pa
from tqdm.auto import tqdm

from deploykit.io._bulk import LOAD_ORDER, Loader
from deploykit.io._report import ImportReport
from deploykit.store import Store

CHUNK_ROWS = 100_000
"""Rows per batch of a chunked import: bounds memory whatever the source size."""

Batches = Callable[[], Iterator[pl.DataFrame | pa.Table]]
"""A table's batches, produced lazily (one in memory at a time)."""


def load_chunked(
    store: Store,
    tables: Mapping[str, tuple[int, Batches]],
    source: str,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Load each table's batches, parents first, in one transaction with one progress bar.

    ``tables`` maps a table to ``(row count, batch factory)``. ``progress=None`` shows
    the bar only on a terminal or in a notebook (tqdm's automatic choice).
    """
    report = ImportReport(source=source)
    total = sum(count for count, _ in tables.values())
    disable = None if progress is None else not progress
    with (
        tqdm(total=total, unit="rows", desc=f"import {source}", disable=disable) as bar,
        store.transaction() as cur,
    ):
        loader = Loader(cur, report)
        for table in LOAD_ORDER:
            if table not in tables:
                continue
            bar.set_postfix_str(table)
            for batch in tables[table][1]():
                loader.load(table, batch, source)
                bar.update(batch.num_rows if isinstance(batch, pa.Table) else batch.height)
        loader.finish(source)
    return report
