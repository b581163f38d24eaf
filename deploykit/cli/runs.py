"""``deploykit runs``: flow runs, filtered like ``ls`` filters deployments."""

from __future__ import annotations

import argparse

from deploykit.cli._common import (
    JSON_COLUMNS,
    count,
    emit,
    find_deployment,
    format_options,
    names_first,
    open_store,
    store_options,
)

STATES = (
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "PAUSED",
    "CANCELLING",
)
"""Prefect's state types (kept here: the parser must not import pydantic)."""
TABLE = ["flow_name", "deployment", "name", "state_type", "state_name", "expected_start_time"]
TABLE += ["start_time", "end_time", "work_queue_name", "tags", "id"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``runs`` to the ``deploykit`` command."""
    runs = subparsers.add_parser("runs", parents=[store_options(), format_options()], help="list flow runs")
    runs.add_argument("--deployment", action="append", help="FLOW/DEPLOYMENT, unique name or id (repeatable)")
    runs.add_argument("--flow", action="append", help="flow name (repeatable: any of them)")
    runs.add_argument(
        "--state", action="append", type=str.upper, choices=STATES, help="state type (repeatable)"
    )
    runs.add_argument("--tag", action="append", help="required tag (repeatable: all of them)")
    runs.add_argument("--name-like", help="case-insensitive substring of the flow run's name")
    runs.add_argument("--work-queue", action="append", help="work queue name (repeatable)")
    runs.add_argument("--work-pool", action="append", help="work pool name (repeatable)")
    runs.add_argument("--limit", type=count)
    runs.add_argument("--offset", type=count)
    runs.set_defaults(run=run_runs)


def run_runs(args: argparse.Namespace) -> None:
    import polars as pl

    from deploykit.models.deployments import read_deployments
    from deploykit.models.flow_runs import read_flow_runs
    from deploykit.models.flows import read_flows

    flow_run_filter: dict = {}
    if args.state:
        flow_run_filter["state"] = {"type": {"any_": args.state}}
    if args.tag:
        flow_run_filter["tags"] = {"all_": args.tag}
    if args.work_queue:
        flow_run_filter["work_queue_name"] = {"any_": args.work_queue}
    if args.name_like:
        flow_run_filter["name"] = {"like_": args.name_like}
    related = {
        "flow_filter": {"name": {"any_": args.flow}} if args.flow else None,
        "work_pool_filter": {"name": {"any_": args.work_pool}} if args.work_pool else None,
    }
    with open_store(args, read_only=True) as store:
        if args.deployment:
            ids = [str(find_deployment(store, ref).id) for ref in args.deployment]
            flow_run_filter["deployment_id"] = {"any_": ids}
        flows = read_flows(store).select(flow_id="id", flow_name="name")
        runs = read_flow_runs(store, flow_run_filter or None, limit=args.limit, offset=args.offset, **related)
        used = runs["deployment_id"].drop_nulls().unique().to_list()
        deployments = read_deployments(store, deployment_filter={"id": {"any_": used}})
    names = deployments.select(deployment_id="id", deployment_name="name")
    runs = (
        runs.join(flows, on="flow_id", how="left", maintain_order="left")
        .join(names, on="deployment_id", how="left", maintain_order="left")
        .with_columns(deployment=pl.format("{}/{}", "flow_name", "deployment_name"))
        .drop("deployment_name")
    )
    shown = names_first(runs, ["flow_name", "deployment", "name"])
    emit(shown.select(TABLE) if args.format == "table" else shown, args.format, json_columns=JSON_COLUMNS)
