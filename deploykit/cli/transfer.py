"""``deploykit import`` and ``deploykit export``: Prefect data in, Parquet or API bodies out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from deploykit.cli._common import open_store, store_options

if TYPE_CHECKING:
    from deploykit.io import ImportReport
    from deploykit.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``import`` and ``export`` to the ``deploykit`` command."""
    imp = subparsers.add_parser("import", parents=[store_options()], help="import Prefect data into a store")
    imp.add_argument(
        "source",
        help="a folder of api-*.json bodies, a prefect.db file, a "
        "Parquet export folder, or an http(s) Prefect API URL",
    )
    imp.add_argument("--api-key", help="Prefect Cloud API key (for URLs)")
    imp.set_defaults(run=run_import)

    export = subparsers.add_parser("export", parents=[store_options()], help="export the store")
    export.add_argument("format", choices=["parquet", "prefect-api"])
    export.add_argument("folder")
    export.set_defaults(run=run_export)


def import_source(store: Store, source: str, api_key: str | None) -> ImportReport:
    """Pick the importer by the source's form: URL, database file, Parquet export, JSON."""
    from deploykit import io

    if source.startswith(("http://", "https://")):
        return io.fetch_prefect(store, source, api_key)
    path = Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        return io.import_parquet(store, path)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return io.import_prefect_db(store, path)
    return io.import_prefect_api(store, path)


def run_import(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        print(import_source(store, args.source, args.api_key))


def run_export(args: argparse.Namespace) -> None:
    from deploykit import io

    with open_store(args, read_only=True) as store:
        write = io.export_parquet if args.format == "parquet" else io.export_prefect_api
        written = write(store, args.folder)
    print(f"wrote {sum(written.values())} rows to {args.folder} ({args.format})")
