"""Whole-store Parquet snapshots: one file per table plus a manifest, lossless both ways."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from deploykit._errors import SourceError
from deploykit._version import __version__
from deploykit.io._chunks import CHUNK_ROWS, load_chunked
from deploykit.io._report import ImportReport
from deploykit.store import SCHEMA_VERSION, STORED_TABLES, Store

MANIFEST = "manifest.json"
FORMAT = "deploykit-parquet"


def write_manifest(folder: Path, rows: dict[str, int]) -> None:
    """Write the manifest naming each table's file and row count."""
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "deploykit_version": __version__,
        "tables": {t: {"file": f"{t}.parquet", "rows": n} for t, n in rows.items()},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def export_parquet(store: Store, folder: str | os.PathLike[str]) -> dict[str, int]:
    """Write every table of ``store`` to ``folder/<table>.parquet`` plus ``manifest.json``.

    Types are kept (UUID, UTC timestamps, tag lists, JSON text), rows are sorted by id,
    and all tables come from one consistent snapshot.

    Parameters
    ----------
    store
        The store to export.
    folder
        Created if missing; existing files of the same names are replaced.

    Returns
    -------
    dict[str, int]
        Rows written per table.

    Examples
    --------
    >>> import tempfile
    >>> export_parquet(Store(), tempfile.mkdtemp())["deployment"]
    0
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    with store.transaction() as cur:
        for table in STORED_TABLES:
            target = str(out / f"{table}.parquet").replace("'", "''")
            cur.execute(
                f"COPY (SELECT * FROM {table} ORDER BY id) TO '{target}' "
                "(FORMAT parquet, ROW_GROUP_SIZE 100000)"
            )
            rows[table] = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    write_manifest(out, rows)
    return rows


def _batches(path: Path, chunk_rows: int) -> Iterator[pa.Table]:
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(batch_size=chunk_rows):
            yield pa.Table.from_batches([batch])


def read_manifest(folder: Path) -> dict[str, Path]:
    """The Parquet file of each table listed in ``folder``'s manifest, checked."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise SourceError(f"{path}: missing; not a deploykit Parquet export") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: invalid JSON: {exc.msg}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SourceError(f"{path}: not a deploykit Parquet manifest")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise SourceError(
            f"{path}: schema version {version!r}; this deploykit reads versions 1 to "
            f"{SCHEMA_VERSION} (the loader checks each table's columns)"
        )
    files: dict[str, Path] = {}
    for table, entry in manifest.get("tables", {}).items():
        if table not in STORED_TABLES:
            raise SourceError(f"{path}: unknown table {table!r}")
        file = folder / entry["file"]
        if not file.is_file():
            raise SourceError(f"{file}: listed in the manifest but missing")
        files[table] = file
    return files


def import_parquet(
    store: Store,
    folder: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> ImportReport:
    """Load a folder written by :func:`export_parquet` into ``store`` (upsert by id).

    Files are read ``chunk_rows`` at a time inside one transaction, so memory stays
    bounded; every batch is validated like any other import.

    Parameters
    ----------
    store
        The store to import into.
    folder
        A folder with ``manifest.json`` and one Parquet file per table.
    chunk_rows
        Rows per batch.
    progress
        Show a progress bar (``None``: only on a terminal or in a notebook).

    Returns
    -------
    ImportReport
        Rows inserted and updated per table.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = export_parquet(Store(), folder)
    >>> import_parquet(Store(), folder, progress=False).total
    0
    """
    root = Path(folder)
    files = read_manifest(root)
    tables = {
        t: (pq.ParquetFile(f).metadata.num_rows, partial(_batches, f, chunk_rows)) for t, f in files.items()
    }
    return load_chunked(store, tables, str(root), progress=progress)
