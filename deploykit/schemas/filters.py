"""Filter models for reads and counts, by their Prefect names (2.10, plus 3.x's new criteria).

Each criterion knows which column it tests and turns itself into a predicate tree
(:mod:`deploykit.predicates`), whose compilers turn that tree into DuckDB SQL for the
store and into a Polars expression (``.as_expr()``) for any DataFrame with the
documented columns. Every field carries a description, so ``model_json_schema()``
documents the filters as Prefect's do.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"name": ["etl-daily", "ml-train"], "tags": [["prod"], []]})
>>> f = FlowFilter(name={"like_": "ETL"}, tags={"all_": ["prod"]})
>>> df.filter(f.as_expr())["name"].to_list()
['etl-daily']
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from uuid import UUID

from pydantic import AwareDatetime, Field

from deploykit.predicates import (
    TRUE,
    BoolOp,
    Column,
    ColumnKind,
    Compare,
    HasAll,
    HasSubflow,
    IsEmpty,
    IsIn,
    IsNull,
    Like,
    Predicate,
)
from deploykit.schemas.base import DeploykitModel
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


def _criteria(target: str) -> Any:
    """The field of a filter holding the criteria for ``target`` (``None``: no criteria)."""
    return Field(default=None, description=f"Filter criteria for `{target}`")


_LIKE = (
    "A case-insensitive match anywhere in the name, as Prefect's ILIKE '%value%': `%` in the "
    "value matches any run of characters and `_` any one character. For example 'marvin' "
    "matches 'marvin', 'sad-Marvin' and 'marvin-robot', and '%oy-1_' matches 'deploy-10'. "
    "Case is compared after Unicode's simple lowercase mapping."
)


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

    operator: Operator = Field(
        default=Operator.and_,
        description="How the criteria combine: 'and_' (all must hold, the default) or 'or_' (any).",
    )

    def as_predicate(self) -> Predicate:
        return _combine(self.operator, self._parts())


# --- reusable criterion shapes ----------------------------------------------------------


_Tests: TypeAlias = dict[str, Callable[[Column, Any], Predicate]]
"""A criterion's field name -> the predicate its value makes on the criterion's column."""


def _is_in(column: Column, values: list[Any]) -> Predicate:
    return IsIn(column, tuple(values))


def _not_in(column: Column, values: list[Any]) -> Predicate:
    return IsIn(column, tuple(values), negate=True)


def _contains(column: Column, text: str) -> Predicate:
    return Like(column, f"%{text}%")


def _has_all(column: Column, values: list[str]) -> Predicate:
    return HasAll(column, tuple(values))


def _states_in(column: Column, states: list[StateType]) -> Predicate:
    return IsIn(column, tuple(s.value for s in states))


def _at_most(column: Column, value: Any) -> Predicate:
    return Compare(column, "<=", value)


def _at_least(column: Column, value: Any) -> Predicate:
    return Compare(column, ">=", value)


def _equals(column: Column, value: Any) -> Predicate:
    return Compare(column, "==", value)


class _Criterion(PrefectFilterBaseModel):
    """A filter on one column: each field that is set adds its test (``tests``), all must hold."""

    column: ClassVar[str]
    kind: ClassVar[ColumnKind] = "str"
    tests: ClassVar[_Tests] = {}
    """The fields' tests, in field order."""

    @classmethod
    def _col(cls) -> Column:
        return Column(cls.column, cls.kind)

    def _parts(self) -> list[Predicate]:
        given = ((test, getattr(self, name)) for name, test in self.tests.items())
        return [test(self._col(), value) for test, value in given if value is not None]


class _IdAny(_Criterion):
    column: ClassVar[str] = "id"
    kind: ClassVar[ColumnKind] = "uuid"
    tests: ClassVar[_Tests] = {"any_": _is_in}
    any_: list[UUID] | None = Field(default=None, description="Ids to include: the id is one of these.")


class _IdAnyNotAny(_IdAny):
    tests: ClassVar[_Tests] = {**_IdAny.tests, "not_any_": _not_in}
    not_any_: list[UUID] | None = Field(default=None, description="Ids to exclude: the id is none of these.")


class _StrAny(_Criterion):
    tests: ClassVar[_Tests] = {"any_": _is_in}
    any_: list[str] | None = Field(
        default=None, description="Values to include: the value equals one of these (case-sensitive)."
    )


class _NameAnyLike(_StrAny):
    column: ClassVar[str] = "name"
    tests: ClassVar[_Tests] = {**_StrAny.tests, "like_": _contains}
    like_: str | None = Field(default=None, description=_LIKE)


class _Tags(PrefectOperatorFilterBaseModel, _Criterion):
    column: ClassVar[str] = "tags"
    kind: ClassVar[ColumnKind] = "list"
    tests: ClassVar[_Tests] = {"all_": _has_all, "is_null_": IsEmpty}
    all_: list[str] | None = Field(
        default=None, description="Tags that must all be present: the tags are a superset of this list."
    )
    is_null_: bool | None = Field(
        default=None, description="True: only rows without tags (an empty list); False: only rows with tags."
    )


class _OpAnyIsNull(PrefectOperatorFilterBaseModel, _Criterion):
    tests: ClassVar[_Tests] = {"any_": _is_in, "is_null_": IsNull}
    any_: list[str] | None = Field(
        default=None, description="Values to include: the value equals one of these (case-sensitive)."
    )
    is_null_: bool | None = Field(
        default=None, description="True: only rows where the value is null; False: only rows where it is set."
    )


class _OpUuidAnyIsNull(_OpAnyIsNull):
    kind: ClassVar[ColumnKind] = "uuid"
    any_: list[UUID] | None = Field(  # type: ignore[assignment]
        default=None, description="Ids to include: the id is one of these."
    )


class _StateTypeAny(_Criterion):
    column: ClassVar[str] = "state_type"
    tests: ClassVar[_Tests] = {"any_": _states_in}
    any_: list[StateType] | None = Field(default=None, description="State types to include.")


class _StateNameAny(_StrAny):
    column: ClassVar[str] = "state_name"


class _TimeRange(_Criterion):
    kind: ClassVar[ColumnKind] = "timestamp"
    tests: ClassVar[_Tests] = {"before_": _at_most, "after_": _at_least}
    before_: AwareDatetime | None = Field(
        default=None, description="Only rows at or before this time (inclusive; timezone-aware)."
    )
    after_: AwareDatetime | None = Field(
        default=None, description="Only rows at or after this time (inclusive; timezone-aware)."
    )


class _TimeRangeIsNull(_TimeRange):
    tests: ClassVar[_Tests] = {**_TimeRange.tests, "is_null_": IsNull}
    is_null_: bool | None = Field(
        default=None, description="True: only rows without this time; False: only rows with it."
    )


class _BoolEq(_Criterion):
    kind: ClassVar[ColumnKind] = "bool"
    tests: ClassVar[_Tests] = {"eq_": _equals}
    eq_: bool | None = Field(
        default=None, description="True: only rows where this flag is set; False: only rows where it is not."
    )


# --- flows --------------------------------------------------------------------------------


class FlowFilterId(_IdAny):
    """Filter by ``Flow.id``."""


class FlowFilterName(_NameAnyLike):
    """Filter by ``Flow.name``: exact names (``any_``) or a case-insensitive pattern (``like_``)."""


class FlowFilterTags(_Tags):
    """Filter by ``Flow.tags``: ``all_`` tags present, or ``is_null_`` (no tags)."""


class FlowFilter(PrefectOperatorFilterBaseModel):
    """Filter flows. Columns: ``id``, ``name``, ``tags``."""

    id: FlowFilterId | None = _criteria("Flow.id")
    name: FlowFilterName | None = _criteria("Flow.name")
    tags: FlowFilterTags | None = _criteria("Flow.tags")


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

    type: FlowRunFilterStateType | None = _criteria("FlowRun.state_type")
    name: FlowRunFilterStateName | None = _criteria("FlowRun.state_name")


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

    id: FlowRunFilterId | None = _criteria("FlowRun.id")
    name: FlowRunFilterName | None = _criteria("FlowRun.name")
    tags: FlowRunFilterTags | None = _criteria("FlowRun.tags")
    deployment_id: FlowRunFilterDeploymentId | None = _criteria("FlowRun.deployment_id")
    work_queue_name: FlowRunFilterWorkQueueName | None = _criteria("FlowRun.work_queue_name")
    state: FlowRunFilterState | None = _criteria("FlowRun.state_type` and `FlowRun.state_name")
    flow_version: FlowRunFilterFlowVersion | None = _criteria("FlowRun.flow_version")
    start_time: FlowRunFilterStartTime | None = _criteria("FlowRun.start_time")
    expected_start_time: FlowRunFilterExpectedStartTime | None = _criteria("FlowRun.expected_start_time")
    next_scheduled_start_time: FlowRunFilterNextScheduledStartTime | None = _criteria(
        "FlowRun.next_scheduled_start_time"
    )
    parent_task_run_id: FlowRunFilterParentTaskRunId | None = _criteria("FlowRun.parent_task_run_id")


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

    type: TaskRunFilterStateType | None = _criteria("TaskRun.state_type")
    name: TaskRunFilterStateName | None = _criteria("TaskRun.state_name")


class TaskRunFilterStartTime(_TimeRangeIsNull):
    """Filter by ``TaskRun.start_time``."""

    column: ClassVar[str] = "start_time"


class TaskRunFilterSubFlowRuns(PrefectFilterBaseModel):
    """Task runs that have (``exists_=True``) or lack a subflow run.

    On a DataFrame this reads a boolean ``has_subflow`` column.
    """

    exists_: bool | None = Field(
        default=None, description="True: task runs that have a subflow run; False: task runs without one."
    )

    def _parts(self) -> list[Predicate]:
        return [] if self.exists_ is None else [HasSubflow(self.exists_)]


class TaskRunFilter(PrefectOperatorFilterBaseModel):
    """Filter task runs. Columns: ``id``, ``name``, ``tags``, ``state_type``,
    ``state_name``, ``start_time``, and ``has_subflow`` for ``subflow_runs``."""

    id: TaskRunFilterId | None = _criteria("TaskRun.id")
    name: TaskRunFilterName | None = _criteria("TaskRun.name")
    tags: TaskRunFilterTags | None = _criteria("TaskRun.tags")
    state: TaskRunFilterState | None = _criteria("TaskRun.state_type` and `TaskRun.state_name")
    start_time: TaskRunFilterStartTime | None = _criteria("TaskRun.start_time")
    subflow_runs: TaskRunFilterSubFlowRuns | None = _criteria("TaskRun.subflow_run")


# --- deployments --------------------------------------------------------------------------


class DeploymentFilterId(_IdAny):
    """Filter by ``Deployment.id``."""


class DeploymentFilterName(_NameAnyLike):
    """Filter by ``Deployment.name``."""


class DeploymentOrFlowNameFilter(PrefectFilterBaseModel):
    """Filter by ``Deployment.name`` or its flow's ``Flow.name`` with one pattern (Prefect 3).

    On a DataFrame this reads ``name`` and ``flow_name``.
    """

    like_: str | None = Field(
        default=None,
        description=(
            "A case-insensitive match anywhere in the deployment's name or its flow's name, "
            "as Prefect's ILIKE '%value%' on each (`%` and `_` are wildcards)."
        ),
    )

    def _parts(self) -> list[Predicate]:
        if self.like_ is None:
            return []
        pattern = f"%{self.like_}%"
        return [
            BoolOp("or", (Like(Column("name", "str"), pattern), Like(Column("flow_name", "str"), pattern)))
        ]


class DeploymentFilterPaused(_BoolEq):
    """Filter by ``Deployment.paused`` (Prefect 3; the opposite of ``is_schedule_active``)."""

    column: ClassVar[str] = "paused"


class DeploymentFilterIsScheduleActive(_BoolEq):
    """Filter by ``Deployment.is_schedule_active``."""

    column: ClassVar[str] = "is_schedule_active"


class DeploymentFilterTags(_Tags):
    """Filter by ``Deployment.tags``."""


class DeploymentFilterWorkQueueName(_StrAny):
    """Filter by ``Deployment.work_queue_name``."""

    column: ClassVar[str] = "work_queue_name"


class DeploymentFilterWorkQueueId(_IdAny):
    """Filter by ``Deployment.work_queue_id`` (Prefect 3)."""

    column: ClassVar[str] = "work_queue_id"


class DeploymentFilterConcurrencyLimit(_Criterion):
    """Filter by ``Deployment.concurrency_limit`` (Prefect 3; inclusive bounds, or null)."""

    column: ClassVar[str] = "concurrency_limit"
    kind: ClassVar[ColumnKind] = "int"
    tests: ClassVar[_Tests] = {
        "ge_": _at_least,
        "le_": _at_most,
        "is_null_": IsNull,
    }
    ge_: int | None = Field(
        default=None, description="Only deployments with a concurrency limit of at least this value."
    )
    le_: int | None = Field(
        default=None, description="Only deployments with a concurrency limit of at most this value."
    )
    is_null_: bool | None = Field(
        default=None,
        description="True: only deployments without a concurrency limit; False: only those with one.",
    )


class DeploymentFilter(PrefectOperatorFilterBaseModel):
    """Filter deployments. Columns: ``id``, ``name``, ``flow_name`` (for
    ``flow_or_deployment_name``), ``paused``, ``is_schedule_active``, ``tags``,
    ``work_queue_name``, ``work_queue_id``, ``concurrency_limit``."""

    id: DeploymentFilterId | None = _criteria("Deployment.id")
    name: DeploymentFilterName | None = _criteria("Deployment.name")
    flow_or_deployment_name: DeploymentOrFlowNameFilter | None = _criteria("Deployment.name` or `Flow.name")
    paused: DeploymentFilterPaused | None = _criteria("Deployment.paused")
    is_schedule_active: DeploymentFilterIsScheduleActive | None = _criteria("Deployment.is_schedule_active")
    tags: DeploymentFilterTags | None = _criteria("Deployment.tags")
    work_queue_name: DeploymentFilterWorkQueueName | None = _criteria("Deployment.work_queue_name")
    work_queue_id: DeploymentFilterWorkQueueId | None = _criteria("Deployment.work_queue_id")
    concurrency_limit: DeploymentFilterConcurrencyLimit | None = _criteria("Deployment.concurrency_limit")


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

    id: WorkPoolFilterId | None = _criteria("WorkPool.id")
    name: WorkPoolFilterName | None = _criteria("WorkPool.name")
    type: WorkPoolFilterType | None = _criteria("WorkPool.type")


class WorkQueueFilterId(_IdAny):
    """Filter by ``WorkQueue.id``."""


class WorkQueueFilterName(_StrAny):
    """Filter by ``WorkQueue.name``: exact names, or case-insensitive prefixes."""

    column: ClassVar[str] = "name"
    startswith_: list[str] | None = Field(
        default=None,
        description=(
            "Case-insensitive prefixes, any of which may match, as Prefect's ILIKE 'value%' "
            "(`%` and `_` are wildcards). For example 'marvin' matches 'marvin' and "
            "'Marvin-robot' but not 'sad-marvin'."
        ),
    )

    def _parts(self) -> list[Predicate]:
        parts = super()._parts()
        if self.startswith_ is not None:
            parts.append(BoolOp("or", tuple(Like(self._col(), f"{p}%") for p in self.startswith_)))
        return parts


class WorkQueueFilter(PrefectOperatorFilterBaseModel):
    """Filter work queues. Columns: ``id``, ``name``."""

    id: WorkQueueFilterId | None = _criteria("WorkQueue.id")
    name: WorkQueueFilterName | None = _criteria("WorkQueue.name")


__all__ = [
    "DeploymentFilter",
    "DeploymentFilterConcurrencyLimit",
    "DeploymentFilterId",
    "DeploymentFilterIsScheduleActive",
    "DeploymentFilterName",
    "DeploymentFilterPaused",
    "DeploymentFilterTags",
    "DeploymentFilterWorkQueueId",
    "DeploymentFilterWorkQueueName",
    "DeploymentOrFlowNameFilter",
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
