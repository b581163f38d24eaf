"""The stored entities: flows, deployments and their schedules, work pools and queues, flow and task runs.

Field names and defaults follow Prefect's ``prefect.server.schemas.core``: Prefect 2.10's
fields, plus those later releases added (SPEC.md section 6; null where a release lacks
them). Every stored entity has ``extra``: the source fields deploykit does not model,
kept verbatim.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AliasChoices, AwareDatetime, Field, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

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

    json_fields: ClassVar[frozenset[str]] = frozenset({"labels", "extra"})

    name: Name
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


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


class DeploymentSchedule(ORMModel):
    """One schedule of a deployment (Prefect 2.18+ / 3.x); table ``deployment_schedule``.

    ``parameters`` update the deployment's parameters for the runs this schedule
    creates; ``max_scheduled_runs`` caps how many runs one scheduling call creates from
    it (Prefect 3: it lowers ``max_runs``). An inactive schedule creates no runs.

    Examples
    --------
    >>> s = DeploymentSchedule(schedule={"cron": "0 9 * * *"}, parameters={"n": 1})
    >>> s.schedule.kind, s.active, s.max_scheduled_runs
    ('cron', True, None)
    """

    json_fields: ClassVar[frozenset[str]] = frozenset({"schedule", "parameters", "extra"})

    created: AwareDatetime | None = Field(default=None, exclude=True)
    """Set by the store; left out of dumps, so a deployment dumps alike before and after it is stored."""
    updated: AwareDatetime | None = Field(default=None, exclude=True)
    """Set by the store; left out of dumps (see ``created``)."""
    deployment_id: UUID | None = None
    schedule: Schedule
    active: bool = True
    max_scheduled_runs: int | None = Field(default=None, gt=0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    extra: dict[str, Any] | None = None


_SCHEDULE_LIST: TypeAdapter[list[DeploymentSchedule]] = TypeAdapter(list[DeploymentSchedule])

DeploymentStatus = Literal["READY", "NOT_READY"]
"""Prefect 3's deployment status (null for releases without it)."""

_VIEWS: dict[str, str] = {"schedule": "schedules", "is_schedule_active": "paused"}
"""Prefect 2.10's fields and the stored fields they are views of."""


class Deployment(ORMModel):
    """A deployment of a flow: where, when and with what parameters it runs.

    Schedules live in ``schedules`` (many per deployment) and ``paused`` stops them all,
    as in Prefect 3. Prefect 2.10's ``schedule`` and ``is_schedule_active`` are views
    (SPEC.md section 6): ``schedule`` is the one schedule when there is exactly one,
    else None, and giving it sets ``schedules`` to that one active schedule (None: no
    schedules); ``is_schedule_active`` is ``not paused``. Both forms may be given when
    they agree; conflicting values are a ValidationError. ``job_variables`` (3.x's name)
    is ``infra_overrides``; ``work_pool_name`` is read-only, from the deployment's queue.

    Examples
    --------
    >>> from uuid import uuid4
    >>> d = Deployment(name="nightly", flow_id=uuid4(), schedule={"cron": "0 2 * * *"})
    >>> d.schedule.kind, d.is_schedule_active, len(d.schedules), d.schedules[0].active
    ('cron', True, 1, True)
    >>> d = Deployment(name="n", flow_id=uuid4(), paused=True, job_variables={"image": "x"},
    ...                schedules=[{"schedule": {"interval": 60}}, {"schedule": {"cron": "0 * * * *"}}])
    >>> d.schedule is None, d.is_schedule_active, d.infra_overrides
    (True, False, {'image': 'x'})
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
            "labels",
            "extra",
            "schedules",
        }
    )

    name: Name
    flow_id: UUID
    version: str | None = None
    description: str | None = None
    schedule: Schedule | None = None
    is_schedule_active: bool = True
    schedules: list[DeploymentSchedule] = Field(default_factory=list)
    paused: bool = False
    infra_overrides: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("infra_overrides", "job_variables")
    )
    parameters: dict[str, Any] = Field(default_factory=dict)
    pull_steps: list[dict[str, Any]] | None = None
    tags: list[str] = Field(default_factory=list)
    work_queue_name: str | None = None
    work_queue_id: UUID | None = None
    work_pool_name: str | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = None
    entrypoint: str | None = None
    manifest_path: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    flow_runner: FlowRunnerSettings | None = None
    created_by: CreatedBy | None = None
    updated_by: UpdatedBy | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    status: DeploymentStatus | None = None
    last_polled: AwareDatetime | None = None
    enforce_parameter_schema: bool | None = None
    labels: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None

    @property
    def job_variables(self) -> dict[str, Any]:
        """Prefect 3's name of ``infra_overrides`` (the same value)."""
        return self.infra_overrides

    @model_validator(mode="before")
    @classmethod
    def _one_model(cls, data: Any) -> Any:
        """Write the 2.10 views into the stored fields; refuse a view that contradicts them."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("schedules"), list):  # DeploymentScheduleCreate objects, say
            data["schedules"] = [
                dict(s) if isinstance(s, DeploykitModel) and not isinstance(s, DeploymentSchedule) else s
                for s in data["schedules"]
            ]
        if "schedule" in data:
            wanted = [] if data["schedule"] is None else [{"schedule": data["schedule"]}]
            if "schedules" not in data or data["schedules"] is None:
                data["schedules"] = wanted
            elif not _same_schedules(data["schedule"], data["schedules"]):
                raise PydanticCustomError(
                    "conflicting_schedules",
                    "schedule and schedules disagree: schedule={schedule} but schedules has {n} "
                    "schedule(s); give one of them (schedule=S means schedules=[S])",
                    {"schedule": repr(data["schedule"]), "n": str(len(data["schedules"]))},
                )
        if "is_schedule_active" in data and data["is_schedule_active"] is not None:
            paused = not data["is_schedule_active"]
            if "paused" not in data or data["paused"] is None:
                data["paused"] = paused
            elif bool(data["paused"]) != paused:
                raise PydanticCustomError(
                    "conflicting_paused",
                    "is_schedule_active={active} and paused={paused} disagree "
                    "(is_schedule_active means not paused); give one of them",
                    {"active": str(data["is_schedule_active"]), "paused": str(data["paused"])},
                )
        return data

    @model_validator(mode="after")
    def _views(self) -> Deployment:
        """Derive ``schedule`` and ``is_schedule_active`` from ``schedules`` and ``paused``; the
        schedules belong to this deployment."""
        if any(s.deployment_id != self.id for s in self.schedules):
            self.__dict__["schedules"] = [
                s if s.deployment_id == self.id else s.model_copy(update={"deployment_id": self.id})
                for s in self.schedules
            ]
        one = self.schedules[0].schedule if len(self.schedules) == 1 else None
        self.__dict__["schedule"] = one
        self.__dict__["is_schedule_active"] = not self.paused
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a 2.10 view assigns the stored field it is a view of (and the reverse)."""
        if name == "schedule":
            name, value = "schedules", [] if value is None else [DeploymentSchedule(schedule=value)]
        elif name == "is_schedule_active":
            name, value = "paused", not value
        if name not in ("schedules", "paused"):
            super().__setattr__(name, value)
            return
        before = dict(self.__dict__)
        if name == "schedules":  # the view agrees with the new value, so validation sees no conflict
            value = _SCHEDULE_LIST.validate_python(value)
            self.__dict__["schedule"] = value[0].schedule if len(value) == 1 else None
        else:
            self.__dict__["is_schedule_active"] = not value
        try:
            super().__setattr__(name, value)
        except ValueError:
            self.__dict__.update(before)
            raise


def _same_schedules(schedule: Any, given: Any) -> bool:
    """Whether ``schedule`` is what reading ``schedules`` (as given) shows: the one schedule
    when there is exactly one, else None."""
    try:
        theirs = _SCHEDULE_LIST.validate_python(given)
        if schedule is None:
            return len(theirs) != 1
        ours = DeploymentSchedule(schedule=schedule).schedule
    except ValueError:
        return False  # the field's own validation reports the bad value
    return len(theirs) == 1 and theirs[0].schedule == ours


class WorkPool(ORMModel):
    """A work pool: a group of work queues served by one kind of worker."""

    json_fields: ClassVar[frozenset[str]] = frozenset({"base_job_template", "storage_configuration", "extra"})

    name: Name
    type: str = "prefect-agent"
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    default_queue_id: UUID | None = None
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None
    storage_configuration: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class WorkQueue(ORMModel):
    """A work queue inside a pool; legacy queues carry a tag/deployment ``filter``."""

    json_fields: ClassVar[frozenset[str]] = frozenset({"filter", "extra"})

    name: Name
    work_pool_id: UUID | None = None
    description: str | None = ""
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int = Field(default=1, ge=1)
    filter: QueueFilter | None = None
    last_polled: AwareDatetime | None = None
    status: str | None = None
    extra: dict[str, Any] | None = None


def _run_name() -> str:
    return f"run-{uuid4().hex[:12]}"


class FlowRun(ORMModel):
    """One run of a flow, possibly created from a deployment's schedule."""

    json_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "parameters",
            "state_details",
            "empirical_policy",
            "job_variables",
            "labels",
            "created_by",
            "extra",
        }
    )

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
    run_count: int | None = None
    total_run_time: float | None = None
    """Seconds."""
    estimated_run_time: float | None = None
    """Seconds."""
    estimated_start_time_delta: float | None = None
    """Seconds."""
    state_id: UUID | None = None
    state_details: dict[str, Any] | None = None
    empirical_policy: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    created_by: CreatedBy | None = None
    infrastructure_pid: str | None = None
    deployment_version: str | None = None
    extra: dict[str, Any] | None = None


class TaskRun(ORMModel):
    """One run of a task inside a flow run."""

    json_fields: ClassVar[frozenset[str]] = frozenset(
        {"task_inputs", "empirical_policy", "state_details", "labels", "extra"}
    )

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
    task_version: str | None = None
    task_inputs: dict[str, Any] | None = None
    cache_key: str | None = None
    cache_expiration: AwareDatetime | None = None
    run_count: int | None = None
    total_run_time: float | None = None
    """Seconds."""
    flow_run_run_count: int | None = None
    empirical_policy: dict[str, Any] | None = None
    state_id: UUID | None = None
    state_message: str | None = None
    state_details: dict[str, Any] | None = None
    expected_start_time: AwareDatetime | None = None
    estimated_run_time: float | None = None
    """Seconds."""
    labels: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


STORED_MODELS: dict[str, type[ORMModel]] = {
    "flow": Flow,
    "work_pool": WorkPool,
    "work_queue": WorkQueue,
    "deployment": Deployment,
    "deployment_schedule": DeploymentSchedule,
    "flow_run": FlowRun,
    "task_run": TaskRun,
}
"""The model each store table holds (its ``json_fields`` are JSON text columns)."""
