"""``deploykit preview``: the next runs of a deployment's schedule or of a typed one."""

from __future__ import annotations

import argparse
from datetime import datetime

from deploykit.cli._common import emit, find_deployment, format_options, open_store, store_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preview`` to the ``deploykit`` command."""
    preview = subparsers.add_parser(
        "preview", parents=[store_options(), format_options()], help="next runs of a schedule"
    )
    preview.add_argument("deployment", nargs="?", help="FLOW/DEPLOYMENT (or give a schedule)")
    preview.add_argument("--cron")
    preview.add_argument("--interval", type=float, help="seconds")
    preview.add_argument("--rrule")
    preview.add_argument("--timezone", help="IANA zone of --cron/--interval/--rrule")
    preview.add_argument("-n", type=int, default=10, help="how many runs (default 10)")
    preview.add_argument("--start", help="ISO 8601 start (default now)")
    preview.set_defaults(run=run_preview)


def run_preview(args: argparse.Namespace) -> None:
    import polars as pl

    from deploykit.schemas.schedules import parse_schedule

    given = [x for x in (args.cron, args.interval, args.rrule) if x is not None]
    if bool(args.deployment) + len(given) != 1:
        raise ValueError("give exactly one of FLOW/DEPLOYMENT, --cron, --interval or --rrule")
    if args.deployment:
        with open_store(args, read_only=True) as store:
            schedule = find_deployment(store, args.deployment).schedule
        if schedule is None:
            raise ValueError(f"deployment {args.deployment!r} has no schedule")
    else:
        key = "cron" if args.cron else "interval" if args.interval else "rrule"
        schedule = parse_schedule({key: given[0], "timezone": args.timezone})
    start = datetime.fromisoformat(args.start) if args.start else None
    print(f"# {schedule.describe()}")
    frame = pl.DataFrame({"run": [d.isoformat() for d in schedule.get_dates(args.n, start)]})
    emit(frame, args.format)
