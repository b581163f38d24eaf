"""The six filter families that select deployments, in one place: their names and types
(:class:`FleetFilters`), how a function takes them (:func:`takes_filters`), and their models.

Every function that selects deployments as ``read_deployments`` does is declared with
``**filters: Unpack[FleetFilters]`` (PEP 692: type checkers and IDEs see each keyword and
its type) and decorated with :func:`takes_filters`, which spells the six out in the
function's run-time signature (``help``, ``inspect.signature``, notebook tooltips) and
binds every call to it, so the keywords are stated once, here.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypedDict, TypeVar

import deploykit.filters as f
from deploykit.models._args import coerce_filter

P = ParamSpec("P")
R = TypeVar("R")


class FleetFilters(TypedDict, total=False):
    """The filters selecting deployments, as ``read_deployments`` takes them.

    Each is a filter model, a dict of its fields, or ``None`` (no restriction); a
    deployment is selected when every given filter holds: ``flow_filter`` on its flow,
    ``flow_run_filter`` on one of its flow runs that has a task run matching
    ``task_run_filter``, ``deployment_filter`` on itself, ``work_pool_filter`` and
    ``work_queue_filter`` on the queue its ``work_queue_id`` refers to.

    Examples
    --------
    >>> from typing import Unpack
    >>> def count(**filters: Unpack[FleetFilters]) -> int:
    ...     return len(filters)
    >>> count(deployment_filter={"tags": {"all_": ["prod"]}})
    1
    >>> list(FleetFilters.__annotations__)[:2]
    ['flow_filter', 'flow_run_filter']
    """

    flow_filter: f.FlowFilter | Mapping[str, Any] | None
    flow_run_filter: f.FlowRunFilter | Mapping[str, Any] | None
    task_run_filter: f.TaskRunFilter | Mapping[str, Any] | None
    deployment_filter: f.DeploymentFilter | Mapping[str, Any] | None
    work_pool_filter: f.WorkPoolFilter | Mapping[str, Any] | None
    work_queue_filter: f.WorkQueueFilter | Mapping[str, Any] | None


_HINTS = typing.get_type_hints(FleetFilters)
_MODELS = {name: typing.get_args(hint)[0] for name, hint in _HINTS.items()}
"""Filter name -> its model class (the first member of its type)."""


def given_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters given (not ``None``), each as its model; a dict is validated into one.

    A name that is no filter of :class:`FleetFilters` is a TypeError.
    """
    unknown = sorted(filters.keys() - _MODELS.keys())
    if unknown:
        raise TypeError(f"unknown deployment filter {unknown[0]!r}; the filters are {', '.join(_MODELS)}")
    coerced = {name: coerce_filter(value, _MODELS[name], name) for name, value in filters.items()}
    return {name: model for name, model in coerced.items() if model is not None}


def takes_filters(*, positional: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Spell :class:`FleetFilters` out in the signature of a function taking ``**filters``.

    The decorated function's run-time signature lists the six filter parameters (default
    ``None``) in place of ``**filters``, and each call is bound to that signature first:
    an unknown keyword is Python's usual ``TypeError`` naming the function.

    Parameters
    ----------
    positional
        False: the filters are keyword-only, after the function's other parameters.
        True: Prefect's order, where filters may be passed by position: they follow the
        function's positional parameters, and its keyword-only parameters follow them,
        positional too (``read_deployments(session, offset, limit, flow_filter, ...,
        work_queue_filter, sort)``).

    Returns
    -------
    Callable
        A decorator.

    Examples
    --------
    >>> import inspect
    >>> from typing import Unpack
    >>> @takes_filters(positional=True)
    ... def count(session: str, *, sort: str = "name", **filters: Unpack[FleetFilters]) -> str:
    ...     return f"{sort}: {sorted(filters)}"
    >>> list(inspect.signature(count).parameters)[:3], list(inspect.signature(count).parameters)[-1]
    (['session', 'flow_filter', 'flow_run_filter'], 'sort')
    >>> count("s", None, None, None, {"name": {"any_": ["a"]}})
    "name: ['deployment_filter', 'flow_filter', 'flow_run_filter', 'task_run_filter']"
    >>> count("s", flow_filtr=None)
    Traceback (most recent call last):
    ...
    TypeError: count() got an unexpected keyword argument 'flow_filtr'
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = _spelled(inspect.signature(func), positional=positional)

        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            unknown = [name for name in kwargs if name not in signature.parameters]
            if unknown:  # reported before a missing argument, as Python itself does
                raise TypeError(f"{func.__name__}() got an unexpected keyword argument {unknown[0]!r}")
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{func.__name__}() {exc}") from None
            return func(**bound.arguments)  # type: ignore[call-arg]

        call.__signature__ = signature  # type: ignore[attr-defined]
        return call

    return decorate


def _spelled(signature: inspect.Signature, *, positional: bool) -> inspect.Signature:
    """``signature`` with its ``**`` parameter replaced by the six filters (see :func:`takes_filters`)."""
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if positional else inspect.Parameter.KEYWORD_ONLY
    spelled = [inspect.Parameter(name, kind, default=None, annotation=hint) for name, hint in _HINTS.items()]
    if not positional:
        return signature.replace(parameters=params + spelled)
    head = [p for p in params if p.kind is not p.KEYWORD_ONLY]
    tail = [p.replace(kind=p.POSITIONAL_OR_KEYWORD) for p in params if p.kind is p.KEYWORD_ONLY]
    return signature.replace(parameters=head + spelled + tail)
