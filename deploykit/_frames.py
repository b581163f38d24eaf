"""Turning DataFrame rows back into schema models."""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from deploykit.models._rows import from_row
from deploykit.schemas._base import ORMModel

M = TypeVar("M", bound=ORMModel)


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
