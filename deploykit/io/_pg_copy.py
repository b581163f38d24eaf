"""A PostgreSQL query's rows as Arrow-backed frames, streamed with ``COPY ... TO STDOUT (FORMAT csv)``.

Fetching rows as Python tuples and building frames from them costs more than the
rest of an import: ``COPY`` sends the rows as CSV, which Arrow's streaming reader
parses in C, block by block, without a Python object per value. Memory stays bounded
by ``chunk_rows`` rows (plus one block of CSV); the query runs in the caller's
transaction, so it reads the same snapshot as every other query of the import.

Types come from the query's own result description: booleans, integers and floats
are read as such, timestamps as UTC times (:func:`_times`), everything else as text.
CSV keeps NULL (an unquoted empty field) apart from the empty string (``""``), and
the reader does too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

_BLOCK_BYTES = 4 << 20
"""CSV bytes Arrow parses at a time."""

_OIDS = {16: "bool", 20: "int", 21: "int", 23: "int", 700: "float", 701: "float", 1184: "time"}
"""PostgreSQL type OIDs read as other than text: bool, int8/2/4, float4/8, timestamptz."""


class _CopyStream(io.RawIOBase):
    """The bytes of a ``COPY ... TO STDOUT`` as a readable file (what Arrow's reader takes)."""

    def __init__(self, copy: psycopg.Copy):
        self._copy = copy
        self._left = memoryview(b"")
        self.read_any = False
        """Whether the COPY sent any bytes (none: the query has no rows)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` (Arrow parses each read as a block: short reads would make tiny blocks)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._left:
                block = self._copy.read()
                if not block:
                    break
                self._left = memoryview(block)
                self.read_any = True
            n = min(len(view) - filled, len(self._left))
            view[filled : filled + n] = self._left[:n]
            self._left = self._left[n:]
            filled += n
        return filled


def copy_frames(conn: psycopg.Connection, query: str, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The rows of ``query`` as frames of at most ``chunk_rows`` rows, in order."""
    import pyarrow as pa
    import pyarrow.csv as csv

    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM ({query}) q LIMIT 0")
        kinds = {d.name: _OIDS.get(d.type_code, "text") for d in cur.description or ()}
        # times as text, parsed per chunk (a value Arrow cannot read stays text for the writer to name)
        types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}
        options = (
            csv.ReadOptions(column_names=list(kinds), block_size=_BLOCK_BYTES, use_threads=False),
            csv.ParseOptions(newlines_in_values=True),
            csv.ConvertOptions(
                column_types={n: types.get(k, pa.string()) for n, k in kinds.items()},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        times = [n for n, k in kinds.items() if k == "time"]
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            stream = _CopyStream(copy)
            try:
                reader = csv.open_csv(stream, *options)
            except pa.ArrowInvalid:
                if stream.read_any:
                    raise
                return  # no rows: Arrow refuses an empty CSV
            for table in _rebatch(reader, chunk_rows):
                yield pl.from_arrow(_times(table, times))  # type: ignore[misc]


def _rebatch(reader: Any, chunk_rows: int) -> Iterator[pa.Table]:
    """Arrow's record batches regrouped into tables of exactly ``chunk_rows`` rows (the last fewer)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        while rows >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending, schema=pending[0].schema)


def _times(table: pa.Table, names: list[str]) -> pa.Table:
    """PostgreSQL's text of ``timestamptz`` values (``2026-12-01 15:00:00.5+00``) as UTC times;
    a column holding a value Arrow cannot read (``infinity``, a date BC) stays text."""
    import pyarrow as pa

    for name in names:
        index = table.schema.get_field_index(name)
        try:
            column = table.column(index).cast(pa.timestamp("us", "UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(index, name, column)
    return table


def id_chunks(conn: psycopg.Connection, query: str, chunk_rows: int) -> Iterator[list[str]]:
    """The ``id`` column of ``query`` as text, ``chunk_rows`` ids at a time.

    PostgreSQL joins each chunk's ids into one text (``string_agg``), sent as one value
    and split here: a sync compares every id of the source with the store's, and a row
    of ``COPY`` per id costs a Python call per id.
    """
    numbered = f"SELECT CAST(id AS TEXT) AS id, row_number() OVER () - 1 AS n FROM ({query}) q"
    chunked = f"SELECT string_agg(id, ',') FROM ({numbered}) x GROUP BY n / {int(chunk_rows)}"
    with conn.cursor(name="deploykit_ids") as cur:
        cur.itersize = 1
        cur.execute(chunked)
        for (text,) in cur:
            yield text.split(",")
