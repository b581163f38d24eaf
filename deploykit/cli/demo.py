"""``deploykit demo``: import the sample fleet and print its summary tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from deploykit.cli._common import emit, open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``deploykit`` command."""
    demo = subparsers.add_parser("demo", help="import the sample fleet and print a summary")
    demo.add_argument("--store", default=None, help="a store file (default: in memory)")
    demo.add_argument("--data", help="the folder of API bodies (default: the repository's data/)")
    demo.add_argument("--top", type=int, default=10, help="rows per summary table")
    demo.set_defaults(run=run_demo)


def data_folder(given: str | None) -> Path:
    """``--data``, else ``./data``, else the repository's ``data/`` next to the package."""
    candidates = [Path(given)] if given else [Path.cwd() / "data", Path(__file__).parents[2] / "data"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no sample data folder (tried {', '.join(map(str, candidates))})")


def run_demo(args: argparse.Namespace) -> None:
    from deploykit.cli._summaries import NOTES, summaries
    from deploykit.io import import_prefect_api

    with open_store(args) as store:
        print(import_prefect_api(store, data_folder(args.data)))
        for title, frame in summaries(store).items():
            print(f"\n## {title.replace('_', ' ')} ({frame.height} rows)")
            if title in NOTES:
                print(NOTES[title])
            emit(frame.head(args.top), "table")
