"""The ``deploykit`` command line: import, list, preview, match, export and report in batch.

Every subcommand takes ``--store PATH`` (default ``./deploykit.duckdb``; ``demo`` uses
an in-memory store unless given one). Exit codes: 0 success, 2 usage error, 1 failure
with a one-line ``deploykit: error: ...`` message on stderr.

Each command group is one module of this package exposing ``register(subparsers)``;
:func:`build_parser` finds them all, so a new module plugs in without editing this file.
Command modules import their heavy dependencies inside the command function, so
``deploykit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from deploykit.cli._common import error_text, is_user_error

__all__ = ["build_parser", "main"]


def _command_modules() -> list[str]:
    """The public modules of this package, in name order: one command group each."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deploykit`` command."""
    parser = argparse.ArgumentParser(
        prog="deploykit", description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n")[1]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deploykit`` command; return its exit code.

    Examples
    --------
    >>> main(["preview", "--cron", "0 9 * * *", "--timezone", "UTC", "-n", "2",
    ...       "--start", "2024-01-01T00:00:00+00:00", "--format", "csv"])
    # At 09:00...
    run
    2024-01-01T09:00:00+00:00
    2024-01-02T09:00:00+00:00
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        args.run(args)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"deploykit: error: {error_text(exc)}", file=sys.stderr)
        return 1
    return 0
