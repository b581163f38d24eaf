"""Python source for a widget's query, so users can copy it into their own code.

The source is generated from the very filter objects the widget runs, rendering
only the fields that were set, so it round-trips: ``eval`` of it gives the same call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel


def source(value: Any) -> str:
    """``value`` as a Python expression: models by their set fields, enums by name.

    Examples
    --------
    >>> from deploykit.filters import DeploymentFilter
    >>> source(DeploymentFilter(name={"like_": "etl"}, tags={"all_": ["prod"]}))
    "DeploymentFilter(name=DeploymentFilterName(like_='etl'), tags=DeploymentFilterTags(all_=['prod']))"
    """
    if isinstance(value, BaseModel):
        args = ", ".join(
            f"{name}={source(getattr(value, name))}"
            for name in type(value).model_fields
            if name in value.model_fields_set
        )
        return f"{type(value).__name__}({args})"
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, UUID):
        return f"UUID({str(value)!r})"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(source(v) for v in value) + "]"
    return repr(value)


def call(function: str, first: str, kwargs: Mapping[str, Any]) -> str:
    """``function(first, key=value, ...)`` with each value rendered by :func:`source`.

    Examples
    --------
    >>> call("read_deployments", "store", {"limit": 10})
    'read_deployments(store, limit=10)'
    """
    args = [first, *(f"{k}={source(v)}" for k, v in kwargs.items())]
    return f"{function}({', '.join(args)})"


def class_names(value: Any) -> list[str]:
    """The model and enum class names ``source(value)`` mentions, sorted, for imports.

    Examples
    --------
    >>> from deploykit.filters import FlowFilter
    >>> class_names({"flow_filter": FlowFilter(name={"any_": ["etl"]})})
    ['FlowFilter', 'FlowFilterName']
    """
    return sorted(set(_names(value)))


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, BaseModel):
        yield type(value).__name__
        for name in value.model_fields_set:
            yield from _names(getattr(value, name))
    elif isinstance(value, Enum):
        yield type(value).__name__
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _names(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _names(item)
