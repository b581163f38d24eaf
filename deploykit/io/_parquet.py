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
from deploykit.io._chunks import CHUNK_ROWS, check_chunk_rows, load_chunked
from deploykit.io._folders import output_folder
from deploykit.io._json import parse_json_bytes
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
    out = output_folder(folder)
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
    try:
        with pq.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=chunk_rows):
                yield pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None


def _row_count(path: Path) -> int:
    """Rows of a Parquet file, read from its footer; a damaged file is a :class:`SourceError`."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{path}: not a readable Parquet file (truncated or damaged?): {exc}") from None


def read_manifest(folder: Path) -> dict[str, Path]:
    """The Parquet file of each table listed in ``folder``'s manifest, checked.

    Each entry's ``file`` must name a file inside ``folder`` (a manifest never makes
    the import read a file elsewhere).
    """
    path = folder / MANIFEST
    if not path.exists():
        raise SourceError(f"{path}: missing; not a deploykit Parquet export")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    manifest = parse_json_bytes(path, raw)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SourceError(f"{path}: not a deploykit Parquet manifest")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise SourceError(
            f"{path}: schema version {version!r}; this deploykit reads versions 1 to "
            f"{SCHEMA_VERSION} (the loader checks each table's columns)"
        )
    tables = manifest.get("tables", {})
    if not isinstance(tables, dict):
        raise SourceError(f'{path}: "tables" must be an object of table -> {{"file": ...}}')
    root = folder.resolve()
    files: dict[str, Path] = {}
    for table, entry in tables.items():
        if table not in STORED_TABLES:
            raise SourceError(f"{path}: unknown table {table!r}")
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or "\x00" in name:
            raise SourceError(f'{path}: table {table!r}: the entry needs a "file" name, got {entry!r}')
        file = (folder / name).resolve()
        if not file.is_relative_to(root):
            raise SourceError(f"{path}: table {table!r}: file {name!r} is outside the export folder {root}")
        if not file.is_file():
            raise SourceError(f"{file}: listed in the manifest but missing (or not a regular file)")
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
    check_chunk_rows(chunk_rows)
    root = Path(folder)
    files = read_manifest(root)
    tables = {t: (_row_count(f), partial(_batches, f, chunk_rows)) for t, f in files.items()}
    return load_chunked(store, tables, str(root), progress=progress)
