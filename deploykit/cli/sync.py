"""``deploykit sync``: bring a store up to date with a Prefect server, reading only what changed."""

from __future__ import annotations

import argparse
import json

from deploykit.cli._common import open_store, store_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sync`` to the ``deploykit`` command."""
    sync = subparsers.add_parser(
        "sync",
        parents=[store_options()],
        help="pull what changed in a Prefect server since the last sync",
        description="Pull the rows a Prefect server database changed since the last sync "
        "(by their `updated` stamp; an API is read in full), delete what it deleted, and report "
        "inserted / updated / unchanged / deleted rows per table. The store mirrors the source "
        "afterwards.",
    )
    sync.add_argument(
        "source",
        help="a prefect.db file, a postgresql://user:password@host:port/database URL, or an "
        "http(s) Prefect API URL (read in full: the API cannot filter on `updated`)",
    )
    sync.add_argument("--api-key", help="Prefect Cloud API key (for API URLs)")
    sync.add_argument("--full", action="store_true", help="read every row again, not only the changed ones")
    sync.add_argument("--json", action="store_true", help="print the counts as JSON")
    sync.set_defaults(run=run_sync)


def run_sync(args: argparse.Namespace) -> None:
    from deploykit import io

    with open_store(args) as store:
        report = io.sync_prefect(store, args.source, full=args.full, api_key=args.api_key)
    if args.json:
        print(json.dumps({"source": report.source, "tables": report.counts()}, indent=2))
    else:
        print(report)
