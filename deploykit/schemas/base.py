"""Base classes and field types shared by every deploykit schema."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

INVALID_NAME_CHARS = re.compile(r"[/%&><]")
"""Prefect's banned name characters; the bulk paths test the same pattern in Polars and SQL."""


def validate_name(value: str) -> str:
    """Reject names holding any of ``/ % & > <`` (Prefect's banned characters)."""
    bad = sorted(set(INVALID_NAME_CHARS.findall(value)))
    if bad:
        raise ValueError(f"name {value!r} must not contain {' '.join(bad)} (banned: / % & > <)")
    if not value:
        raise ValueError("name must not be empty")
    return value


Name = Annotated[str, AfterValidator(validate_name)]
"""A flow, deployment, work pool or work queue name."""


class DeploykitModel(BaseModel):
    """Base of all schemas: unknown fields are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ORMModel(DeploykitModel):
    """An entity stored in its own table, with ``id``, ``created`` and ``updated``."""

    json_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields stored as JSON text and shown as JSON strings in DataFrames."""

    id: UUID = Field(default_factory=uuid4)
    created: AwareDatetime | None = None
    updated: AwareDatetime | None = None


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    from datetime import UTC

    return datetime.now(UTC)


__all__ = ["UUID", "DeploykitModel", "Name", "ORMModel", "utc_now", "validate_name"]
