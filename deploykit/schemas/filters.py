"""Filter models for reads and counts, by their Prefect 2.10 names.

Each criterion knows which column it tests and turns itself into a predicate tree
(:mod:`deploykit.predicates`), whose compilers turn that tree into
DuckDB SQL for the store and to a Polars expression (``.as_expr()``) for any
DataFrame with the documented columns.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"name": ["etl-daily", "ml-train"], "tags": [["prod"], []]})
>>> f = FlowFilter(name={"like_": "ETL"}, tags={"all_": ["prod"]})
>>> df.filter(f.as_expr())["name"].to_list()
['etl-daily']
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from deploykit.predicates import (
    TRUE,
    BoolOp,
    Column,
    ColumnKind,
    Compare,
    ContainsText,
    HasAll,
    HasSubflow,
    IsEmpty,
    IsIn,
    IsNull,
    Predicate,
    StartsWithAny,
)
from deploykit.schemas._base import DeploykitModel
from deploykit.schemas.states import StateType

if TYPE_CHECKING:
    import polars as pl


class Operator(StrEnum):
    """How an operator filter combines its criteria."""

    and_ = "and_"
    or_ = "or_"


def _combine(op: Operator | str, parts: list[Predicate]) -> Predicate:
    """AND/OR of the given parts; no parts selects everything."""
    if not parts:
        return TRUE
    if len(parts) == 1:
        return parts[0]
    return BoolOp("or" if op == Operator.or_ else "and", tuple(parts))


class PrefectFilterBaseModel(DeploykitModel):
    """Base of every filter: unknown fields are errors; compiles to SQL and Polars."""

    def as_predicate(self) -> Predicate:
        """The engine-neutral predicate tree this filter stands for."""
        return _combine(Operator.and_, self._parts())

    def _parts(self) -> list[Predicate]:
        parts: list[Predicate] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, PrefectFilterBaseModel):
                parts.append(value.as_predicate())
        return parts

    def as_expr(self) -> pl.Expr:
        """This filter as a Polars expression over the documented columns.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": ["a", "b"], "is_schedule_active": [True, False]})
        >>> df.filter(DeploymentFilter(is_schedule_active={"eq_": False}).as_expr())["id"][0]
        'b'
        """
        from deploykit.predicates import to_polars

        return to_polars(self.as_predicate())


class PrefectOperatorFilterBaseModel(PrefectFilterBaseModel):
    """A filter whose criteria are combined with ``operator`` (``and_`` by default)."""

    operator: Operator = Operator.and_

    def as_predicate(self) -> Predicate:
        return _combine(self.operator, self._parts())


# --- reusable criterion shapes ----------------------------------------------------------


class _Criterion(PrefectFilterBaseModel):
    column: ClassVar[str]
    kind: ClassVar[ColumnKind] = "str"

    @classmethod
    def _col(cls) -> Column:
        return Column(cls.column, cls.kind)


class _IdAny(_Criterion):
    column: ClassVar[str] = "id"
    kind: ClassVar[ColumnKind] = "uuid"
    any_: list[UUID] | None = None

    def _parts(self) -> list[Predicate]:
        return [] if self.any_ is None else [IsIn(self._col(), tuple(self.any_))]


class _IdAnyNotAny(_IdAny):
    not_any_: list[UUID] | None = None

    def _parts(self) -> list[Predicate]:
        parts = super()._parts()
        if self.not_any_ is not None:
            parts.append(IsIn(self._col(), tuple(self.not_any_), negate=True))
        return parts


class _StrAny(_Criterion):
    any_: list[str] | None = None

    def _parts(self) -> list[Predicate]:
        return [] if self.any_ is None else [IsIn(self._col(), tuple(self.any_))]


class _NameAnyLike(_StrAny):
    column: ClassVar[str] = "name"
    like_: str | None = None

    def _parts(self) -> list[Predicate]:
        parts = super()._parts()
        if self.like_ is not None:
            parts.append(ContainsText(self._col(), self.like_))
        return parts


class _Tags(PrefectOperatorFilterBaseModel, _Criterion):
    column: ClassVar[str] = "tags"
    kind: ClassVar[ColumnKind] = "list"
    all_: list[str] | None = None
    is_null_: bool | None = None

    def _parts(self) -> list[Predicate]:
        parts: list[Predicate] = []
        if self.all_ is not None:
            parts.append(HasAll(self._col(), tuple(self.all_)))
        if self.is_null_ is not None:
            parts.append(IsEmpty(self._col(), self.is_null_))
        return parts


class _OpAnyIsNull(PrefectOperatorFilterBaseModel, _Criterion):
    any_: list[str] | None = None
    is_null_: bool | None = None

    def _parts(self) -> list[Predicate]:
        parts: list[Predicate] = []
        if self.any_ is not None:
            parts.append(IsIn(self._col(), tuple(self.any_)))
        if self.is_null_ is not None:
            parts.append(IsNull(self._col(), self.is_null_))
        return parts


class _OpUuidAnyIsNull(_OpAnyIsNull):
    kind: ClassVar[ColumnKind] = "uuid"
    any_: list[UUID] | None = None  # type: ignore[assignment]


class _StateTypeAny(_Criterion):
    column: ClassVar[str] = "state_type"
    any_: list[StateType] | None = None

    def _parts(self) -> list[Predicate]:
        return [] if self.any_ is None else [IsIn(self._col(), tuple(s.value for s in self.any_))]


class _StateNameAny(_StrAny):
    column: ClassVar[str] = "state_name"


class _TimeRange(_Criterion):
    kind: ClassVar[ColumnKind] = "timestamp"
    before_: AwareDatetime | None = None
    after_: AwareDatetime | None = None

    def _parts(self) -> list[Predicate]:
        parts: list[Predicate] = []
        if self.before_ is not None:
            parts.append(Compare(self._col(), "<=", self.before_))
        if self.after_ is not None:
            parts.append(Compare(self._col(), ">=", self.after_))
        return parts


class _TimeRangeIsNull(_TimeRange):
    is_null_: bool | None = None

    def _parts(self) -> list[Predicate]:
        parts = super()._parts()
        if self.is_null_ is not None:
            parts.append(IsNull(self._col(), self.is_null_))
        return parts


# --- flows --------------------------------------------------------------------------------


class FlowFilterId(_IdAny):
    """Filter by ``Flow.id``."""


class FlowFilterName(_NameAnyLike):
    """Filter by ``Flow.name``: exact names (``any_``) or a case-insensitive substring."""


class FlowFilterTags(_Tags):
    """Filter by ``Flow.tags``: ``all_`` tags present, or ``is_null_`` (no tags)."""


class FlowFilter(PrefectOperatorFilterBaseModel):
    """Filter flows. Columns: ``id``, ``name``, ``tags``."""

    id: FlowFilterId | None = None
    name: FlowFilterName | None = None
    tags: FlowFilterTags | None = None


# --- flow runs ----------------------------------------------------------------------------


class FlowRunFilterId(_IdAnyNotAny):
    """Filter by ``FlowRun.id`` (``any_`` / ``not_any_``)."""


class FlowRunFilterName(_NameAnyLike):
    """Filter by ``FlowRun.name``."""


class FlowRunFilterTags(_Tags):
    """Filter by ``FlowRun.tags``."""


class FlowRunFilterDeploymentId(_OpUuidAnyIsNull):
    """Filter by ``FlowRun.deployment_id``."""

    column: ClassVar[str] = "deployment_id"


class FlowRunFilterWorkQueueName(_OpAnyIsNull):
    """Filter by ``FlowRun.work_queue_name``."""

    column: ClassVar[str] = "work_queue_name"


class FlowRunFilterStateType(_StateTypeAny):
    """Filter by the state type of a flow run."""


class FlowRunFilterStateName(_StateNameAny):
    """Filter by the state name of a flow run."""


class FlowRunFilterState(PrefectOperatorFilterBaseModel):
    """Filter by a flow run's state type and/or name."""

    type: FlowRunFilterStateType | None = None
    name: FlowRunFilterStateName | None = None


class FlowRunFilterFlowVersion(_StrAny):
    """Filter by ``FlowRun.flow_version``."""

    column: ClassVar[str] = "flow_version"


class FlowRunFilterStartTime(_TimeRangeIsNull):
    """Filter by ``FlowRun.start_time`` (inclusive bounds, or null)."""

    column: ClassVar[str] = "start_time"


class FlowRunFilterExpectedStartTime(_TimeRange):
    """Filter by ``FlowRun.expected_start_time`` (inclusive bounds)."""

    column: ClassVar[str] = "expected_start_time"


class FlowRunFilterNextScheduledStartTime(_TimeRange):
    """Filter by ``FlowRun.next_scheduled_start_time`` (inclusive bounds)."""

    column: ClassVar[str] = "next_scheduled_start_time"


class FlowRunFilterParentTaskRunId(_OpUuidAnyIsNull):
    """Filter by ``FlowRun.parent_task_run_id``."""

    column: ClassVar[str] = "parent_task_run_id"


class FlowRunFilter(PrefectOperatorFilterBaseModel):
    """Filter flow runs. Columns: ``id``, ``name``, ``tags``, ``deployment_id``,
    ``work_queue_name``, ``state_type``, ``state_name``, ``flow_version``, ``start_time``,
    ``expected_start_time``, ``next_scheduled_start_time``, ``parent_task_run_id``."""

    id: FlowRunFilterId | None = None
    name: FlowRunFilterName | None = None
    tags: FlowRunFilterTags | None = None
    deployment_id: FlowRunFilterDeploymentId | None = None
    work_queue_name: FlowRunFilterWorkQueueName | None = None
    state: FlowRunFilterState | None = None
    flow_version: FlowRunFilterFlowVersion | None = None
    start_time: FlowRunFilterStartTime | None = None
    expected_start_time: FlowRunFilterExpectedStartTime | None = None
    next_scheduled_start_time: FlowRunFilterNextScheduledStartTime | None = None
    parent_task_run_id: FlowRunFilterParentTaskRunId | None = None


# --- task runs ----------------------------------------------------------------------------


class TaskRunFilterId(_IdAny):
    """Filter by ``TaskRun.id``."""


class TaskRunFilterName(_NameAnyLike):
    """Filter by ``TaskRun.name``."""


class TaskRunFilterTags(_Tags):
    """Filter by ``TaskRun.tags``."""


class TaskRunFilterStateType(_StateTypeAny):
    """Filter by the state type of a task run."""


class TaskRunFilterStateName(_StateNameAny):
    """Filter by the state name of a task run."""


class TaskRunFilterState(PrefectOperatorFilterBaseModel):
    """Filter by a task run's state type and/or name."""

    type: TaskRunFilterStateType | None = None
    name: TaskRunFilterStateName | None = None


class TaskRunFilterStartTime(_TimeRangeIsNull):
    """Filter by ``TaskRun.start_time``."""

    column: ClassVar[str] = "start_time"


class TaskRunFilterSubFlowRuns(PrefectFilterBaseModel):
    """Task runs that have (``exists_=True``) or lack a subflow run.

    On a DataFrame this reads a boolean ``has_subflow`` column.
    """

    exists_: bool | None = None

    def _parts(self) -> list[Predicate]:
        return [] if self.exists_ is None else [HasSubflow(self.exists_)]


class TaskRunFilter(PrefectOperatorFilterBaseModel):
    """Filter task runs. Columns: ``id``, ``name``, ``tags``, ``state_type``,
    ``state_name``, ``start_time``, and ``has_subflow`` for ``subflow_runs``."""

    id: TaskRunFilterId | None = None
    name: TaskRunFilterName | None = None
    tags: TaskRunFilterTags | None = None
    state: TaskRunFilterState | None = None
    start_time: TaskRunFilterStartTime | None = None
    subflow_runs: TaskRunFilterSubFlowRuns | None = None


# --- deployments --------------------------------------------------------------------------


class DeploymentFilterId(_IdAny):
    """Filter by ``Deployment.id``."""


class DeploymentFilterName(_NameAnyLike):
    """Filter by ``Deployment.name``."""


class DeploymentFilterIsScheduleActive(_Criterion):
    """Filter by ``Deployment.is_schedule_active``."""

    column: ClassVar[str] = "is_schedule_active"
    kind: ClassVar[ColumnKind] = "bool"
    eq_: bool | None = None

    def _parts(self) -> list[Predicate]:
        return [] if self.eq_ is None else [Compare(self._col(), "==", self.eq_)]


class DeploymentFilterTags(_Tags):
    """Filter by ``Deployment.tags``."""


class DeploymentFilterWorkQueueName(_StrAny):
    """Filter by ``Deployment.work_queue_name``."""

    column: ClassVar[str] = "work_queue_name"


class DeploymentFilter(PrefectOperatorFilterBaseModel):
    """Filter deployments. Columns: ``id``, ``name``, ``is_schedule_active``, ``tags``,
    ``work_queue_name``."""

    id: DeploymentFilterId | None = None
    name: DeploymentFilterName | None = None
    is_schedule_active: DeploymentFilterIsScheduleActive | None = None
    tags: DeploymentFilterTags | None = None
    work_queue_name: DeploymentFilterWorkQueueName | None = None


# --- work pools and queues ----------------------------------------------------------------


class WorkPoolFilterId(_IdAny):
    """Filter by ``WorkPool.id``."""


class WorkPoolFilterName(_StrAny):
    """Filter by ``WorkPool.name``."""

    column: ClassVar[str] = "name"


class WorkPoolFilterType(_StrAny):
    """Filter by ``WorkPool.type``."""

    column: ClassVar[str] = "type"


class WorkPoolFilter(PrefectOperatorFilterBaseModel):
    """Filter work pools. Columns: ``id``, ``name``, ``type``."""

    id: WorkPoolFilterId | None = None
    name: WorkPoolFilterName | None = None
    type: WorkPoolFilterType | None = None


class WorkQueueFilterId(_IdAny):
    """Filter by ``WorkQueue.id``."""


class WorkQueueFilterName(_StrAny):
    """Filter by ``WorkQueue.name``: exact names, or case-insensitive prefixes."""

    column: ClassVar[str] = "name"
    startswith_: list[str] | None = None

    def _parts(self) -> list[Predicate]:
        parts = super()._parts()
        if self.startswith_ is not None:
            parts.append(StartsWithAny(self._col(), tuple(self.startswith_)))
        return parts


class WorkQueueFilter(PrefectOperatorFilterBaseModel):
    """Filter work queues. Columns: ``id``, ``name``."""

    id: WorkQueueFilterId | None = None
    name: WorkQueueFilterName | None = None


__all__ = [
    "DeploymentFilter",
    "DeploymentFilterId",
    "DeploymentFilterIsScheduleActive",
    "DeploymentFilterName",
    "DeploymentFilterTags",
    "DeploymentFilterWorkQueueName",
    "FlowFilter",
    "FlowFilterId",
    "FlowFilterName",
    "FlowFilterTags",
    "FlowRunFilter",
    "FlowRunFilterDeploymentId",
    "FlowRunFilterExpectedStartTime",
    "FlowRunFilterFlowVersion",
    "FlowRunFilterId",
    "FlowRunFilterName",
    "FlowRunFilterNextScheduledStartTime",
    "FlowRunFilterParentTaskRunId",
    "FlowRunFilterStartTime",
    "FlowRunFilterState",
    "FlowRunFilterStateName",
    "FlowRunFilterStateType",
    "FlowRunFilterTags",
    "FlowRunFilterWorkQueueName",
    "Operator",
    "PrefectFilterBaseModel",
    "PrefectOperatorFilterBaseModel",
    "TaskRunFilter",
    "TaskRunFilterId",
    "TaskRunFilterName",
    "TaskRunFilterStartTime",
    "TaskRunFilterState",
    "TaskRunFilterStateName",
    "TaskRunFilterStateType",
    "TaskRunFilterSubFlowRuns",
    "TaskRunFilterTags",
    "WorkPoolFilter",
    "WorkPoolFilterId",
    "WorkPoolFilterName",
    "WorkPoolFilterType",
    "WorkQueueFilter",
    "WorkQueueFilterId",
    "WorkQueueFilterName",
]
