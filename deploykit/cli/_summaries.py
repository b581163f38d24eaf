"""The fleet's summary tables, shared by ``deploykit demo`` and ``deploykit report``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from deploykit.models import deployments as ops

if TYPE_CHECKING:
    from deploykit.store import Store


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
    """The fleet's summary tables: per flow, tag, queue, schedule kind; matches; next runs."""
    deps = fleet(store)
    queues = deps.with_columns(
        queue=pl.concat_str(pl.col("work_pool").fill_null("?"), pl.col("work_queue_name"), separator="/")
    )
    matches = ops.queue_matches(store)
    top = (
        matches.filter("matches")
        .group_by("work_pool_name", "work_queue_name")
        .len("deployments_picked_up")
        .sort(["deployments_picked_up", "work_queue_name"], descending=[True, False])
    )
    start = datetime.now(UTC)
    runs = ops.preview_runs(store, start, start + timedelta(hours=hours))
    return {
        "deployments_per_flow": _counts(deps, "flow", "flow"),
        "deployments_per_tag": _counts(deps.explode("tags"), "tags", "tag"),
        "deployments_per_work_queue": _counts(queues, "queue", "work_pool/work_queue"),
        "schedule_kinds": _counts(deps, "schedule_type", "schedule_type"),
        "top_queue_matches": top,
        "next_runs": runs.select(
            "scheduled_time",
            "flow_name",
            "deployment_name",
            "work_queue_name",
            "schedule_type",
            "dst_adjusted",
        ),
    }
