"""Pure pydantic v2 data: entities, updates, schedules, filters, sort orders, states."""

from deploykit.schemas.actions import DeploymentScheduleCreate, DeploymentScheduleUpdate, DeploymentUpdate
from deploykit.schemas.core import (
    CreatedBy,
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    FlowRunnerSettings,
    QueueFilter,
    TaskRun,
    UpdatedBy,
    WorkPool,
    WorkQueue,
)
from deploykit.schemas.filters import *  # noqa: F403 - every filter class by its Prefect name
from deploykit.schemas.filters import __all__ as _filter_names
from deploykit.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule, Schedule
from deploykit.schemas.sorting import DeploymentSort
from deploykit.schemas.states import StateType

__all__ = [
    "CreatedBy",
    "CronSchedule",
    "Deployment",
    "DeploymentSchedule",
    "DeploymentScheduleCreate",
    "DeploymentScheduleUpdate",
    "DeploymentSort",
    "DeploymentUpdate",
    "Flow",
    "FlowRun",
    "FlowRunnerSettings",
    "IntervalSchedule",
    "QueueFilter",
    "RRuleSchedule",
    "Schedule",
    "StateType",
    "TaskRun",
    "UpdatedBy",
    "WorkPool",
    "WorkQueue",
    *_filter_names,
]
