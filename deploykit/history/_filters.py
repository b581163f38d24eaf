"""The six deployment filters every run-history function takes, as ``read_deployments`` does.

They are declared once, here: :func:`takes_filters` gives a function the six keyword-only
parameters (its signature, help and ``inspect.signature`` list them) and hands them to it
as one mapping, the keywords of the models layer's deployment selection.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

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

FILTERS: dict[str, str] = {
    "flow_filter": "FlowFilterArg",
    "flow_run_filter": "FlowRunFilterArg",
    "task_run_filter": "TaskRunFilterArg",
    "deployment_filter": "DeploymentFilterArg",
    "work_pool_filter": "WorkPoolFilterArg",
    "work_queue_filter": "WorkQueueFilterArg",
}
"""Each filter keyword and its annotation, in ``read_deployments``' order."""

Result = TypeVar("Result")


def takes_filters(func: Callable[..., Result]) -> Callable[..., Result]:
    """``func`` with the six filters as keyword-only parameters (default None), passed on
    to it as its keyword-only ``filters``: a dict of all six.

    Examples
    --------
    >>> @takes_filters
    ... def count(session, *, limit=10, filters):
    ...     return {name: value for name, value in filters.items() if value is not None}
    >>> count(None, deployment_filter={"tags": {"all_": ["prod"]}})
    {'deployment_filter': {'tags': {'all_': ['prod']}}}
    >>> list(inspect.signature(count).parameters)[2:4]
    ['flow_filter', 'flow_run_filter']
    """
    signature = inspect.signature(func)
    kept = [p for p in signature.parameters.values() if p.name != "filters"]
    added = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=a)
        for n, a in FILTERS.items()
    ]

    @functools.wraps(func)
    def with_filters(*args: Any, **kwargs: Any) -> Result:
        filters = {name: kwargs.pop(name, None) for name in FILTERS}
        return func(*args, filters=filters, **kwargs)

    with_filters.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return with_filters
