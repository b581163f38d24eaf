"""Argument checks shared by the operations: ids, counts, and models given as dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

F = TypeVar("F", bound=BaseModel)


def as_uuid(value: UUID | str, name: str) -> UUID:
    """``value`` as a UUID, or a ValueError naming the argument."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a valid UUID") from None


def non_negative(value: int, name: str) -> int:
    """``value`` when it is an int >= 0, else a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def coerce_filter(value: F | Mapping[str, Any] | None, cls: type[F], name: str) -> F | None:
    """``None``, or the filter given as a model or a dict."""
    if value is None:
        return None
    return coerce_model(value, cls, name)


def coerce_model(value: F | Mapping[str, Any], cls: type[F], name: str) -> F:
    """Accept the model or a dict of its fields; anything else is a clear TypeError."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.model_validate(value)
    raise TypeError(f"{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")
