"""The fleet's summary tables, shared by ``deploykit demo`` and ``deploykit report``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from deploykit.models import deployments as ops

if TYPE_CHECKING:
    from deploykit.store import Store


NO_SCHEDULE = "none (no schedule)"
"""The schedule kind of deployments without a schedule, as the tables name it."""
NOTES = {
    "where_runs_go": "each deployment counted once, at its assigned work queue (its work_queue_id): "
    "where workers and agents get its runs",
    "legacy_queue_filter_matches": "legacy queue filter (Prefect 2 agents): queues whose filter admits "
    "the deployment; a queue without a filter admits every deployment, workers ignore these filters",
}
"""One line under a table's heading, for the tables that need one to be read right."""


def _counts(frame: pl.DataFrame, column: str, label: str) -> pl.DataFrame:
    return (
        frame.group_by(column)
        .len("deployments")
        .sort(["deployments", column], descending=[True, False], nulls_last=True)
        .rename({column: label})
    )


def fleet(store: Store) -> pl.DataFrame:
    """Every deployment with its ``flow`` and ``work_pool`` names, read through the models."""
    return ops.read_deployment_overview(store).rename({"flow_name": "flow", "work_pool_name": "work_pool"})


def summaries(store: Store, hours: int = 24) -> dict[str, pl.DataFrame]:
    """The fleet's summary tables: per flow, tag, queue, schedule kind; where runs go; next runs.

    Where runs go counts each deployment once, at its assigned queue (its
    ``work_queue_id``); the legacy filter's verdicts (a queue without a filter admits every
    deployment) come after it, labelled as what they are: what Prefect 2 agents would take.
    """
    deps = fleet(store)
    queues = deps.with_columns(
        queue=pl.concat_str(pl.col("work_pool").fill_null("?"), pl.col("work_queue_name"), separator="/")
    )
    matches = ops.queue_matches(store)
    assigned = (
        matches.filter("assigned")
        .group_by("work_pool_name", "work_queue_name")
        .len("deployments_assigned")
        .sort(["deployments_assigned", "work_pool_name", "work_queue_name"], descending=[True, False, False])
    )
    legacy = (
        matches.filter("matches")
        .group_by("work_pool_name", "work_queue_name")
        .len("legacy_filter_admits")
        .sort(["legacy_filter_admits", "work_pool_name", "work_queue_name"], descending=[True, False, False])
    )
    start = datetime.now(UTC)
    runs = ops.preview_runs(store, start, start + timedelta(hours=hours), max_runs=None)
    return {
        "deployments_per_flow": _counts(deps, "flow", "flow"),
        "deployments_per_tag": _counts(deps.explode("tags"), "tags", "tag"),
        "deployments_per_work_queue": _counts(queues, "queue", "work_pool/work_queue"),
        "schedule_kinds": _counts(
            deps.with_columns(pl.col("schedule_type").fill_null(NO_SCHEDULE)),
            "schedule_type",
            "schedule_type",
        ),
        "where_runs_go": assigned,
        "legacy_queue_filter_matches": legacy,
        "next_runs": runs.select(
            "scheduled_time",
            "flow_name",
            "deployment_name",
            "work_queue_name",
            "schedule_type",
            "dst_adjusted",
        ),
    }
