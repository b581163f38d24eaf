"""``deploykit import`` and ``deploykit export``: Prefect data in, Parquet or API bodies out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from deploykit._errors import DeploykitError
from deploykit.cli._common import error_text, open_store, store_options

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
    export.add_argument(
        "--release",
        help="prefect-api only: the Prefect release whose REST body shape to write "
        "(2.10, 2.14, 2.20 or 3.x; default 2.10)",
    )
    export.set_defaults(run=run_export)


def import_source(store: Store, source: str, api_key: str | None) -> ImportReport:
    """Pick the importer by the source's form: URL, PostgreSQL URL, database file, Parquet export, JSON."""
    from deploykit import io

    if source.startswith(("http://", "https://")):
        try:
            parts = urlsplit(source)
            parts.port  # noqa: B018 - parsed lazily; a bad port raises here
        except ValueError as exc:
            raise ValueError(f"{source!r} is not a valid URL: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"{source!r} is not a valid URL: no host")
        return io.fetch_prefect(store, source, api_key)
    if source.lower().startswith(("postgresql://", "postgres://", "postgresql+")):
        return io.import_prefect_db(store, source)
    path = Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        return io.import_parquet(store, path)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return io.import_prefect_db(store, path)
    return io.import_prefect_api(store, path)


def run_import(args: argparse.Namespace) -> None:
    """Import; a first import that fails leaves no store file behind."""
    new = args.store not in (None, ":memory:") and not Path(args.store).exists()
    try:
        with open_store(args) as store:
            report = import_source(store, args.source, args.api_key)
    except Exception as exc:
        if new:
            for leftover in (Path(args.store), Path(f"{args.store}.wal")):
                leftover.unlink(missing_ok=True)
        raise _with_url_hint(exc, args.source) from exc
    print(report)


def _with_url_hint(exc: Exception, source: str) -> Exception:
    """``exc``, with a hint when ``source`` is a URL that does not name a Prefect API (``.../api``)."""
    if not source.startswith(("http://", "https://")):
        return exc
    try:
        path = urlsplit(source).path
    except ValueError:
        return exc
    if "/api" in path:
        return exc
    example = f"{source.rstrip('/')}/api"
    return DeploykitError(f"{error_text(exc)} (hint: a Prefect API URL ends in /api, e.g. {example})")


def run_export(args: argparse.Namespace) -> None:
    """Export; ``--release`` picks the body shape of ``prefect-api`` (Parquet has one shape)."""
    from deploykit import io

    if args.format == "parquet" and args.release is not None:
        raise DeploykitError("--release applies to the prefect-api format only")
    with open_store(args, read_only=True) as store:
        if args.format == "parquet":
            written = io.export_parquet(store, args.folder)
        else:
            shape = {} if args.release is None else {"release": args.release}
            written = io.export_prefect_api(store, args.folder, **shape)
    print(f"wrote {sum(written.values())} rows to {args.folder} ({args.format})")
