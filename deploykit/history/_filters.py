"""The six deployment filters every run-history function takes, as ``read_deployments`` does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # the filter models (pydantic) load when a filter is compiled, not on import
    from deploykit.filters import (
        DeploymentFilter,
        FlowFilter,
        FlowRunFilter,
        TaskRunFilter,
        WorkPoolFilter,
        WorkQueueFilter,
    )

FlowFilterArg: TypeAlias = "FlowFilter | Mapping[str, Any] | None"
FlowRunFilterArg: TypeAlias = "FlowRunFilter | Mapping[str, Any] | None"
TaskRunFilterArg: TypeAlias = "TaskRunFilter | Mapping[str, Any] | None"
DeploymentFilterArg: TypeAlias = "DeploymentFilter | Mapping[str, Any] | None"
WorkPoolFilterArg: TypeAlias = "WorkPoolFilter | Mapping[str, Any] | None"
WorkQueueFilterArg: TypeAlias = "WorkQueueFilter | Mapping[str, Any] | None"


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
