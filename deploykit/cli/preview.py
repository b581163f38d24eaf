"""``deploykit preview``: the runs of a deployment's schedule, or of a typed one, in a window."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from deploykit.cli._common import emit, find_deployment, format_options, open_store, store_options

COUNT = 10
"""Runs shown when no window end is given."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``preview`` to the ``deploykit`` command."""
    preview = subparsers.add_parser(
        "preview",
        parents=[store_options(), format_options()],
        help="the runs of a schedule: the next N, or every run in a window",
        description="The runs of a deployment's schedule, or of one given by --cron, --interval or "
        "--rrule: UTC and local time, the DST flag and the schedule. The schedule's description goes "
        "to the table's heading, and into the `schedule` field of CSV and JSON rows.",
    )
    preview.add_argument("deployment", nargs="?", help="FLOW/DEPLOYMENT, a unique name or an id")
    kind = preview.add_mutually_exclusive_group()
    kind.add_argument("--cron", help="a cron expression, e.g. '0 9 * * mon-fri'")
    kind.add_argument("--interval", help="seconds or a duration: 3600, 1h, 90m, 1d 12h")
    kind.add_argument("--rrule", help="an RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO'")
    preview.add_argument("--timezone", help="IANA zone of --cron/--interval/--rrule (default UTC)")
    preview.add_argument("--anchor", help="ISO 8601 anchor of --interval (default: --start)")
    preview.add_argument("--start", help="ISO 8601 window start (default now; no offset means UTC)")
    end = preview.add_mutually_exclusive_group()
    end.add_argument("--end", help="ISO 8601 window end: every run up to it")
    end.add_argument("--hours", type=float, help="window length in hours")
    end.add_argument("--days", type=float, help="window length in days")
    end.add_argument("-n", type=int, help=f"the next N runs (default {COUNT} when no window end is given)")
    preview.add_argument(
        "--dst",
        action="store_true",
        help="list where DST changes the runs instead (moved, merged and doubled wall times); "
        "table output otherwise notes them on stderr",
    )
    preview.set_defaults(run=run_preview)


def instant(text: str, option: str) -> datetime:
    """An ISO 8601 instant; without an offset, UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 date-time (e.g. 2024-03-31T02:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window(args: argparse.Namespace) -> tuple[datetime, datetime | None, int | None]:
    """``(start, end, count)``: a window end, or else a number of runs."""
    start = instant(args.start, "--start") if args.start else datetime.now(UTC)
    if args.end:
        end = instant(args.end, "--end")
    elif args.hours is not None or args.days is not None:
        length = args.hours if args.hours is not None else args.days * 24
        if not 0 <= length <= 24 * 366 * 100:
            raise ValueError("--hours/--days must be between 0 and 100 years")
        end = start + timedelta(hours=length)
    else:
        if args.n is not None and args.n < 1:
            raise ValueError(f"-n must be at least 1, got {args.n}")
        return start, None, args.n or COUNT
    if end < start:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return start, end, None


def run_preview(args: argparse.Namespace) -> None:
    import polars as pl

    from deploykit.scheduling import schedule_dst_effects, upcoming_runs
    from deploykit.schemas.schedules import MAX_DATES, typed_schedule

    typed = next(((k, v) for k in ("cron", "interval", "rrule") if (v := getattr(args, k)) is not None), None)
    if (args.deployment is None) == (typed is None):
        raise ValueError("give exactly one of FLOW/DEPLOYMENT, --cron, --interval or --rrule")
    start, end, count = window(args)
    if args.deployment is not None:
        with open_store(args, read_only=True) as store:
            deployment = find_deployment(store, args.deployment)
        if not deployment.schedules:
            raise ValueError(f"deployment {args.deployment!r} has no schedule")
        active = [s for s in deployment.schedules if s.active]
        if deployment.paused or not active:
            what = "is paused" if deployment.paused else "has no active schedule"
            described = "; ".join(s.schedule.describe() for s in deployment.schedules)
            print(
                f"deploykit: deployment {args.deployment!r} {what} ({described}): "
                "it creates no runs until it is resumed",
                file=sys.stderr,
            )
            return
        if len(active) > 1:  # each schedule's runs, marked by the schedule that makes them (id and text)
            parts = [
                upcoming_runs(s.schedule, start, count=count, end=end).with_columns(
                    schedule_id=pl.lit(str(s.id)), schedule=pl.lit(s.schedule.describe())
                )
                for s in active
            ]
            runs = pl.concat(parts).sort("scheduled_time")
            description = "; ".join(s.schedule.describe() for s in active)
        else:
            schedule = active[0].schedule
    else:
        kind, text = typed
        anchor = instant(args.anchor, "--anchor") if args.anchor else start
        schedule = typed_schedule(kind, text, args.timezone, anchor)
    if args.deployment is None or len(active) == 1:
        runs = upcoming_runs(schedule, start, count=count, end=end)
        description = schedule.describe()
        schedules = [schedule]
    else:
        schedules = [s.schedule for s in active]
    last = end if end is not None else (runs["scheduled_time"].max() if runs.height else start)
    effects = pl.concat([schedule_dst_effects(s, start, last) for s in schedules])  # type: ignore[arg-type]
    if args.dst:
        if args.format == "table":
            print(f"{description}: where DST changes the runs ({effects.height})")
        emit(effects, args.format)
        return
    if args.format == "table":
        print(f"{description}: {runs.height} runs")
        emit(runs, "table")
    else:
        named = runs if "schedule" in runs.columns else runs.with_columns(schedule=pl.lit(description))
        emit(named, args.format)
    if effects.height and args.format == "table":
        kinds = ", ".join(f"{n} {kind}" for kind, n in effects.group_by("effect").len().sort("effect").rows())
        print(f"deploykit: note: DST changes {kinds} run(s) in this window; see --dst", file=sys.stderr)
    if runs.height >= MAX_DATES:
        print(
            f"deploykit: note: at most {MAX_DATES:,} runs per preview; later runs are not shown",
            file=sys.stderr,
        )
