"""The ``deploykit`` command line: import, list, preview, match, export and report in batch.

Every subcommand takes ``--store PATH`` (default ``./deploykit.duckdb``; ``demo`` uses
an in-memory store unless given one) and ``--timeout SECONDS`` (wait while another process
holds the store file). Deployments are named ``FLOW/DEPLOYMENT``, by a bare name no other
flow uses, or by id. Exit codes: 0 success, 2 usage error, 1 failure with a one-line
``deploykit: error: ...`` message on stderr.

Each command group is one module of this package exposing ``register(subparsers)``;
:func:`build_parser` finds them all, so a new module plugs in without editing this file.
Command modules import their heavy dependencies inside the command function, so
``deploykit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from deploykit.cli._common import add_timeout, error_text

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
    for command in sub.choices.values():  # every subcommand waits for a busy store file on request
        if not any("--timeout" in action.option_strings for action in command._actions):
            add_timeout(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deploykit`` command; return its exit code.

    Examples
    --------
    >>> main(["preview", "--cron", "0 9 * * *", "--timezone", "Europe/Berlin", "-n", "2",
    ...       "--start", "2024-01-01T00:00:00+00:00", "--format", "csv"])
    scheduled_time,local_time,timezone,dst_adjusted,schedule
    2024-01-01T08:00:00+00:00,2024-01-01T09:00:00,Europe/Berlin,false,At 09:00 AM (Europe/Berlin)
    2024-01-02T08:00:00+00:00,2024-01-02T09:00:00,Europe/Berlin,false,At 09:00 AM (Europe/Berlin)
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        args.run(args)
    except BrokenPipeError:  # `deploykit ls | head`: the reader has all it wants
        sys.stderr.close()
        return 0
    except Exception as exc:  # one line, never a traceback (unless asked for)
        if os.environ.get("DEPLOYKIT_TRACEBACK"):
            raise
        print(f"deploykit: error: {error_text(exc)}", file=sys.stderr)
        return 1
    return 0
