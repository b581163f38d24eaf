"""The stored entities: flows, deployments, work pools and queues, flow and task runs.

Field names and defaults follow Prefect 2.10's ``prefect.server.schemas.core``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field

from deploykit.schemas.base import DeploykitModel, Name, ORMModel
from deploykit.schemas.schedules import Schedule
from deploykit.schemas.states import StateType


class Flow(ORMModel):
    """A flow: deployments and runs belong to one.

    Examples
    --------
    >>> Flow(name="etl", tags=["prod"]).name
    'etl'
    """

    name: Name
    tags: list[str] = Field(default_factory=list)


class FlowRunnerSettings(DeploykitModel):
    """The flow runner a legacy deployment asks for (matched by queue filters)."""

    type: str | None = None
    config: dict[str, Any] | None = None


class CreatedBy(DeploykitModel):
    """Who created an object (a user, a bot, ...)."""

    id: UUID | None = None
    type: str | None = None
    display_value: str | None = None


class UpdatedBy(CreatedBy):
    """Who last updated an object."""


class QueueFilter(DeploykitModel):
    """A legacy work queue filter; ``None`` or an empty list means no restriction.

    Examples
    --------
    >>> QueueFilter(tags=["prod"]).deployment_ids is None
    True
    """

    tags: list[str] | None = None
    deployment_ids: list[UUID] | None = None
    flow_runner_types: list[str] | None = None


class Deployment(ORMModel):
    """A deployment of a flow: where, when and with what parameters it runs.

    Examples
    --------
    >>> d = Deployment(name="nightly", flow_id=uuid4(), schedule={"cron": "0 2 * * *"})
    >>> d.schedule.kind, d.is_schedule_active
    ('cron', True)
    """

    json_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "schedule",
            "infra_overrides",
            "parameters",
            "pull_steps",
            "parameter_openapi_schema",
            "flow_runner",
            "created_by",
            "updated_by",
        }
    )

    name: Name
    flow_id: UUID
    version: str | None = None
    description: str | None = None
    schedule: Schedule | None = None
    is_schedule_active: bool = True
    infra_overrides: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    pull_steps: list[dict[str, Any]] | None = None
    tags: list[str] = Field(default_factory=list)
    work_queue_name: str | None = None
    work_queue_id: UUID | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = None
    entrypoint: str | None = None
    manifest_path: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    flow_runner: FlowRunnerSettings | None = None
    created_by: CreatedBy | None = None
    updated_by: UpdatedBy | None = None


class WorkPool(ORMModel):
    """A work pool: a group of work queues served by one kind of worker."""

    json_fields: ClassVar[frozenset[str]] = frozenset({"base_job_template"})

    name: Name
    type: str = "prefect-agent"
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    default_queue_id: UUID | None = None
    base_job_template: dict[str, Any] = Field(default_factory=dict)


class WorkQueue(ORMModel):
    """A work queue inside a pool; legacy queues carry a tag/deployment ``filter``."""

    json_fields: ClassVar[frozenset[str]] = frozenset({"filter"})

    name: Name
    work_pool_id: UUID | None = None
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int = Field(default=1, ge=1)
    filter: QueueFilter | None = None
    last_polled: AwareDatetime | None = None


def _run_name() -> str:
    return f"run-{uuid4().hex[:12]}"


class FlowRun(ORMModel):
    """One run of a flow, possibly created from a deployment's schedule."""

    json_fields: ClassVar[frozenset[str]] = frozenset({"parameters"})

    name: str = Field(default_factory=_run_name)
    flow_id: UUID
    deployment_id: UUID | None = None
    work_queue_name: str | None = None
    work_queue_id: UUID | None = None
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    tags: list[str] = Field(default_factory=list)
    parent_task_run_id: UUID | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    state_message: str | None = None
    state_timestamp: AwareDatetime | None = None
    scheduled_time: AwareDatetime | None = None
    expected_start_time: AwareDatetime | None = None
    next_scheduled_start_time: AwareDatetime | None = None
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    auto_scheduled: bool = False
    infrastructure_document_id: UUID | None = None


class TaskRun(ORMModel):
    """One run of a task inside a flow run."""

    name: str = Field(default_factory=lambda: f"task-{uuid4().hex[:12]}")
    flow_run_id: UUID
    task_key: str
    dynamic_key: str = "0"
    tags: list[str] = Field(default_factory=list)
    state_type: StateType | None = None
    state_name: str | None = None
    state_timestamp: AwareDatetime | None = None
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None


STORED_MODELS: dict[str, type[ORMModel]] = {
    "flow": Flow,
    "work_pool": WorkPool,
    "work_queue": WorkQueue,
    "deployment": Deployment,
    "flow_run": FlowRun,
    "task_run": TaskRun,
}
"""The model each store table holds (its ``json_fields`` are JSON text columns)."""
