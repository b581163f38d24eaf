"""The six deployment filters every run-history function takes, as ``read_deployments`` does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)

FlowFilterArg = FlowFilter | Mapping[str, Any] | None
FlowRunFilterArg = FlowRunFilter | Mapping[str, Any] | None
TaskRunFilterArg = TaskRunFilter | Mapping[str, Any] | None
DeploymentFilterArg = DeploymentFilter | Mapping[str, Any] | None
WorkPoolFilterArg = WorkPoolFilter | Mapping[str, Any] | None
WorkQueueFilterArg = WorkQueueFilter | Mapping[str, Any] | None


def selection(
    flow_filter: FlowFilterArg,
    flow_run_filter: FlowRunFilterArg,
    task_run_filter: TaskRunFilterArg,
    deployment_filter: DeploymentFilterArg,
    work_pool_filter: WorkPoolFilterArg,
    work_queue_filter: WorkQueueFilterArg,
) -> dict[str, Any]:
    """The filters as the keywords of the models layer's deployment selection."""
    return {
        "flow_filter": flow_filter,
        "flow_run_filter": flow_run_filter,
        "task_run_filter": task_run_filter,
        "deployment_filter": deployment_filter,
        "work_pool_filter": work_pool_filter,
        "work_queue_filter": work_queue_filter,
    }
