"""``deploykit ls`` and ``deploykit match``: list deployments, and which queues pick one up."""

from __future__ import annotations

import argparse

from deploykit.cli._common import emit, find_deployment, format_options, open_store, store_options

SORTS = ("created_desc", "updated_desc", "name_asc", "name_desc")
"""``DeploymentSort``'s members in lower case (kept here: the parser must not import pydantic)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ls`` and ``match`` to the ``deploykit`` command."""
    parents = [store_options(), format_options()]
    ls = subparsers.add_parser("ls", parents=parents, help="list deployments")
    ls.add_argument("--name-like", help="case-insensitive substring of the name")
    ls.add_argument("--tag", action="append", help="required tag (repeatable: all of them)")
    ls.add_argument("--flow", action="append", help="flow name (repeatable: any of them)")
    ls.add_argument("--work-queue", action="append", help="work queue name (repeatable)")
    ls.add_argument("--work-pool", action="append", help="work pool name (repeatable)")
    active = ls.add_mutually_exclusive_group()
    active.add_argument("--active", dest="active", action="store_true", default=None)
    active.add_argument("--inactive", dest="active", action="store_false")
    ls.add_argument("--sort", choices=SORTS, default="name_asc")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--offset", type=int)
    ls.set_defaults(run=run_ls)

    match = subparsers.add_parser("match", parents=parents, help="which queues pick a deployment up")
    match.add_argument("deployment", help="FLOW/DEPLOYMENT or id")
    match.set_defaults(run=run_match)


def run_ls(args: argparse.Namespace) -> None:
    from deploykit.models import deployments as ops

    deployment_filter: dict = {}
    if args.name_like:
        deployment_filter["name"] = {"like_": args.name_like}
    if args.tag:
        deployment_filter["tags"] = {"all_": args.tag}
    if args.active is not None:
        deployment_filter["is_schedule_active"] = {"eq_": args.active}
    with open_store(args, read_only=True) as store:
        frame = ops.read_deployments(
            store,
            offset=args.offset,
            limit=args.limit,
            deployment_filter=deployment_filter or None,
            flow_filter={"name": {"any_": args.flow}} if args.flow else None,
            work_queue_filter={"name": {"any_": args.work_queue}} if args.work_queue else None,
            work_pool_filter={"name": {"any_": args.work_pool}} if args.work_pool else None,
            sort=args.sort.upper(),
        )
        columns = ["id", "name", "flow_id", "tags", "work_queue_name", "schedule_type"]
        columns += ["is_schedule_active", "updated"]
        emit(frame.select(columns) if args.format == "table" else frame, args.format)


def run_match(args: argparse.Namespace) -> None:
    from deploykit.models import deployments as ops

    with open_store(args, read_only=True) as store:
        deployment = find_deployment(store, args.deployment)
        frame = ops.queue_matches(store, deployment_filter={"id": {"any_": [deployment.id]}}, sort=True)
    columns = ["work_pool_name", "work_queue_name", "tags_match", "missing_tags"]
    columns += ["deployment_id_match", "flow_runner_match", "assigned", "matches"]
    emit(frame.select(columns).sort("work_pool_name", "work_queue_name"), args.format)
