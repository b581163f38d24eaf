"""``deploykit ls``, ``inspect`` and ``match``: list deployments, show one, which queues take it."""

from __future__ import annotations

import argparse
import json

from deploykit.cli._common import (
    JSON_COLUMNS,
    count,
    emit,
    find_deployment,
    format_options,
    names_first,
    open_store,
    records,
    store_options,
    with_names,
)

SORTS = ("created_desc", "updated_desc", "name_asc", "name_desc")
"""``DeploymentSort``'s members in lower case (kept here: the parser must not import pydantic)."""
FIRST = ("deployment", "flow_name", "name", "work_pool_name", "work_queue_name")
"""Columns ``ls`` shows first: what a person names a deployment by, and where its runs go."""
TABLE = (*FIRST[:1], *FIRST[3:], "tags", "schedule_type", "is_schedule_active", "updated", "id")
"""The columns of ``ls --format table``."""
REF = "FLOW/DEPLOYMENT, a deployment name no other flow uses, or an id"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ls``, ``inspect`` and ``match`` to the ``deploykit`` command."""
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
    ls.add_argument("--limit", type=count)
    ls.add_argument("--offset", type=count)
    ls.set_defaults(run=run_ls)

    inspect = subparsers.add_parser(
        "inspect", parents=[store_options()], help="one deployment, every field, as JSON"
    )
    inspect.add_argument("deployment", help=REF)
    inspect.set_defaults(run=run_inspect)

    match = subparsers.add_parser("match", parents=parents, help="which queues pick a deployment up")
    match.add_argument("deployment", help=REF)
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
        frame = names_first(with_names(store, frame), FIRST)
    emit(frame.select(TABLE) if args.format == "table" else frame, args.format, json_columns=JSON_COLUMNS)


def run_inspect(args: argparse.Namespace) -> None:
    from deploykit.models import deployments as ops

    with open_store(args, read_only=True) as store:
        deployment = find_deployment(store, args.deployment)
        found = ops.read_deployments(store, deployment_filter={"id": {"any_": [deployment.id]}})
        row = records(names_first(with_names(store, found), FIRST), json_columns=JSON_COLUMNS)[0]
    schedule = deployment.schedule
    status = "active" if deployment.is_schedule_active else "paused"
    row["schedule_description"] = schedule.describe() if schedule else None
    row["schedule_status"] = status if schedule else "no schedule"
    print(json.dumps(row, indent=2))


def run_match(args: argparse.Namespace) -> None:
    from deploykit.models import deployments as ops

    with open_store(args, read_only=True) as store:
        deployment = find_deployment(store, args.deployment)
        frame = ops.queue_matches(store, deployment_filter={"id": {"any_": [deployment.id]}}, sort=True)
    columns = ["work_pool_name", "work_queue_name", "tags_match", "missing_tags"]
    columns += ["deployment_id_match", "flow_runner_match", "assigned", "matches"]
    emit(frame.select(columns).sort("work_pool_name", "work_queue_name"), args.format)
