"""Create and partial-update models (Prefect's ``schemas.actions``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AliasChoices, AwareDatetime, Field, model_validator
from pydantic_core import PydanticCustomError

from deploykit.schemas.base import DeploykitModel, Name
from deploykit.schemas.core import DeploymentStatus
from deploykit.schemas.schedules import Schedule


class DeploymentScheduleCreate(DeploykitModel):
    """A schedule to add to a deployment (Prefect 3's ``DeploymentScheduleCreate``).

    Examples
    --------
    >>> DeploymentScheduleCreate(schedule={"interval": 3600}, active=False).active
    False
    """

    schedule: Schedule
    active: bool = True
    max_scheduled_runs: int | None = Field(default=None, gt=0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None


class DeploymentScheduleUpdate(DeploykitModel):
    """Fields ``update_deployment_schedule`` may change; only the fields you set are written.

    Examples
    --------
    >>> sorted(DeploymentScheduleUpdate(active=False).model_fields_set)
    ['active']
    """

    schedule: Schedule | None = None
    active: bool | None = None
    max_scheduled_runs: int | None = Field(default=None, gt=0)
    parameters: dict[str, Any] | None = None
    slug: str | None = None


class DeploymentUpdate(DeploykitModel):
    """Fields ``update_deployment`` may change; only the fields you set are written.

    ``work_pool_name`` is not stored: it selects the pool whose queue the deployment uses.
    ``schedule`` (2.10) replaces the schedules with that one active schedule (None: none),
    ``schedules`` (Prefect 3) replaces them with these; ``is_schedule_active`` writes
    ``paused`` (its opposite); ``job_variables`` is ``infra_overrides``. Conflicting
    values of a view and its field are a ValidationError.

    Examples
    --------
    >>> sorted(DeploymentUpdate(tags=["prod"]).model_fields_set)
    ['tags']
    """

    version: str | None = None
    schedule: Schedule | None = None
    description: str | None = None
    is_schedule_active: bool | None = None
    parameters: dict[str, Any] | None = None
    tags: list[str] | None = None
    work_queue_name: Name | None = None
    work_pool_name: Name | None = None
    path: str | None = None
    infra_overrides: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("infra_overrides", "job_variables")
    )
    entrypoint: str | None = None
    manifest_path: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    schedules: list[DeploymentScheduleCreate] | None = None
    paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    status: DeploymentStatus | None = None
    last_polled: AwareDatetime | None = None
    enforce_parameter_schema: bool | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    pull_steps: list[dict[str, Any]] | None = None
    labels: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _agree(self) -> DeploymentUpdate:
        """``is_schedule_active`` / ``paused`` and ``schedule`` / ``schedules`` must agree when both are set."""
        given = self.model_fields_set
        if {"is_schedule_active", "paused"} <= given and self.is_schedule_active is not None:
            if self.paused is not None and self.paused == self.is_schedule_active:
                raise PydanticCustomError(
                    "conflicting_paused",
                    "is_schedule_active={active} and paused={paused} disagree "
                    "(is_schedule_active means not paused); give one of them",
                    {"active": str(self.is_schedule_active), "paused": str(self.paused)},
                )
        if {"schedule", "schedules"} <= given and self.schedules is not None:
            one = [s.schedule for s in self.schedules]
            if one != ([] if self.schedule is None else [self.schedule]):
                raise PydanticCustomError(
                    "conflicting_schedules",
                    "schedule and schedules disagree; give one of them (schedule=S means schedules=[S])",
                )
        return self
