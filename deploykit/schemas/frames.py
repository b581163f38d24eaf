"""Frames to schema objects: DataFrame rows (or store rows) validated as pydantic models."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import polars as pl

from deploykit.schemas.base import ORMModel

M = TypeVar("M", bound=ORMModel)


def from_row(model: type[M], row: dict[str, Any]) -> M:
    """A validated model from a store row (JSON text decoded; extra columns ignored)."""
    data = {}
    for name in model.model_fields:
        if name not in row:
            continue
        value = row[name]
        if name in model.json_fields and isinstance(value, str):
            value = json.loads(value)
        data[name] = value
    return model.model_validate(data)


def to_models(df: pl.DataFrame, model: type[M]) -> list[M]:
    """Validate each row of ``df`` as ``model`` (JSON columns decoded, extra columns ignored).

    Examples
    --------
    >>> import deploykit as dk
    >>> df = pl.DataFrame({"id": ["6b2c0f1e-53c5-4c49-9f0e-6f8c9c7d2a10"], "name": ["etl"], "tags": [["a"]]})
    >>> [f.name for f in dk.to_models(df, dk.Flow)]
    ['etl']
    """
    return [from_row(model, row) for row in df.iter_rows(named=True)]
