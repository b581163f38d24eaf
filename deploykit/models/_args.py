"""Argument checks shared by the operations: ids, counts, and models given as dicts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

F = TypeVar("F", bound=BaseModel)


_UUID_TEXT = re.compile(r"^(\{)?[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}(?(1)\})$")
"""The id texts every function accepts: 32 hex digits, hyphens optional, optionally in braces
(what DuckDB's cast to UUID reads, so frames and arguments follow one rule)."""

MAX_COUNT = 2**63 - 1
"""Largest ``limit`` / ``offset``: DuckDB's BIGINT."""


def as_uuid(value: UUID | str, name: str) -> UUID:
    """``value`` as a UUID, or a ValueError naming the argument.

    Examples
    --------
    >>> as_uuid("{2E8C375E-BD45-4928-A7E2-8EA40C549488}", "flow_id")
    UUID('2e8c375e-bd45-4928-a7e2-8ea40c549488')
    >>> as_uuid("nope", "flow_id")
    Traceback (most recent call last):
    ...
    ValueError: flow_id 'nope' is not a valid UUID
    """
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str) or not _UUID_TEXT.match(value):
        raise ValueError(f"{name} {value!r} is not a valid UUID")
    return UUID(value)


def as_name(value: str, name: str) -> str:
    """``value`` when it is a string, else a TypeError naming the argument (a name to look up).

    Examples
    --------
    >>> as_name(3, "flow_name")
    Traceback (most recent call last):
    ...
    TypeError: flow_name must be a string, got 3
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return value


def non_negative(value: int, name: str) -> int:
    """``value`` when it is an int from 0 to ``MAX_COUNT``, else a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_COUNT}, got {value!r}")
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
