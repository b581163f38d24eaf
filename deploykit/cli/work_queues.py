"""``deploykit work-queue ls`` and ``work-queue preview``: the queues, and what one will receive."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from deploykit.cli._common import JSON_COLUMNS, emit, format_options, open_store, store_options

HOURS = 24.0
"""Default ``preview`` window."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``work-queue ls`` and ``work-queue preview`` to the ``deploykit`` command."""
    queue = subparsers.add_parser("work-queue", help="work queues: list them, preview what one receives")
    commands = queue.add_subparsers(dest="work_queue_command", required=True, metavar="COMMAND")
    parents = [store_options(), format_options()]
    ls = commands.add_parser("ls", parents=parents, help="list work queues with their pool")
    ls.add_argument("--work-pool", action="append", help="only these pools (repeatable)")
    ls.set_defaults(run=run_ls)
    preview = commands.add_parser(
        "preview",
        parents=parents,
        help="the runs a queue will receive: the scheduled runs of the deployments assigned to it",
    )
    preview.add_argument("queue", help="QUEUE, or POOL/QUEUE when several pools have a queue of that name")
    preview.add_argument("--hours", type=float, default=HOURS, help=f"window from now (default {HOURS:g})")
    preview.add_argument("--start", help="ISO 8601 window start (default now; no offset means UTC)")
    preview.set_defaults(run=run_preview)


def run_ls(args: argparse.Namespace) -> None:
    from deploykit.models.work_queues import read_work_queues

    with open_store(args, read_only=True) as store:
        queues = read_work_queues(store)
    if args.work_pool:
        queues = queues.filter(queues["work_pool_name"].is_in(args.work_pool))
    first = ["work_pool_name", "name", "is_paused", "concurrency_limit", "priority", "last_polled"]
    rest = [c for c in queues.columns if c not in first and c not in ("id", "work_pool_id")]
    shown = queues.select(*first, *rest, "id", "work_pool_id")
    emit(
        shown.select(*first, "id") if args.format == "table" else shown,
        args.format,
        json_columns=JSON_COLUMNS,
    )


def run_preview(args: argparse.Namespace) -> None:
    from deploykit.cli.preview import instant
    from deploykit.models.deployments import preview_runs
    from deploykit.models.work_queues import read_work_queues

    if not 0 <= args.hours <= 24 * 366:
        raise ValueError(f"--hours must be between 0 and {24 * 366} (a year), got {args.hours:g}")
    pool, _, name = args.queue.rpartition("/")
    with open_store(args, read_only=True) as store:
        queues = read_work_queues(store, {"name": {"any_": [name]}})
        if pool:
            queues = queues.filter(queues["work_pool_name"] == pool)
        if queues.is_empty():
            known = read_work_queues(store).select("work_pool_name", "name").rows()
            listed = ", ".join(f"{p}/{q}" for p, q in known[:8]) + (", ..." if len(known) > 8 else "")
            raise ValueError(f"no work queue {args.queue!r}; give QUEUE or POOL/QUEUE, e.g. {listed}")
        if queues.height > 1:
            pools = ", ".join(f"{p}/{name}" for p in queues["work_pool_name"])
            raise ValueError(f"several pools have a queue {name!r} ({pools}); give POOL/QUEUE")
        start = instant(args.start, "--start") if args.start else datetime.now(UTC)
        runs = preview_runs(
            store,
            start,
            start + timedelta(hours=args.hours),
            work_queue_filter={"id": {"any_": queues["id"].to_list()}},
            max_runs=None,  # every run of the window: what the queue will receive
        )
    if queues["is_paused"][0]:
        print(
            f"deploykit: note: work queue {args.queue!r} is paused: its runs wait until it is resumed",
            file=sys.stderr,
        )
    columns = ["scheduled_time", "local_time", "timezone", "dst_adjusted", "flow_name", "deployment_name"]
    columns += ["schedule_type", "work_pool_name", "work_queue_name", "deployment_id"]
    if args.format == "table":
        print(f"{runs.height} runs for {queues['work_pool_name'][0]}/{name} in the next {args.hours:g} hours")
    emit(runs.select(columns), args.format)
