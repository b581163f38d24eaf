"""Set-based writes: many rows of one table validated with Polars and inserted in one statement.

A frame's columns are checked against the model (unknown columns, missing required
ones, banned name characters, malformed ids, JSON and schedules) before anything is
written, so a bad row fails the whole call with a message naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import polars as pl
from pydantic import BaseModel, TypeAdapter, ValidationError

from deploykit.models._rows import to_row
from deploykit.schemas._base import INVALID_NAME_CHARS, ORMModel
from deploykit.schemas.core import FlowRun

_UUID_RE = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
_TIMESTAMP = pl.Datetime("us", "UTC")


def _dtype(model: type[ORMModel], name: str) -> pl.DataType:
    """The Polars type a column of ``model`` has in the store's frames."""
    if name in model.json_fields:
        return pl.String()
    annotation = str(model.model_fields[name].annotation)
    if "list[str]" in annotation:
        return pl.List(pl.String)
    if "bool" in annotation:
        return pl.Boolean()
    if "datetime" in annotation.lower():
        return _TIMESTAMP
    return pl.String()


def frame_schema(model: type[ORMModel]) -> dict[str, pl.DataType]:
    """Column name -> Polars type for every field of ``model``."""
    return {name: _dtype(model, name) for name in model.model_fields}


def models_to_frame(models: Sequence[ORMModel], model: type[ORMModel]) -> pl.DataFrame:
    """Already-validated models as a frame with the store's column types."""
    schema = frame_schema(model)
    rows = []
    for item in models:
        if not isinstance(item, model):
            raise TypeError(f"expected {model.__name__} objects, got {type(item).__name__}")
        rows.append({k: str(v) if isinstance(v, UUID) else v for k, v in to_row(item).items()})
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def normalise_frame(frame: pl.DataFrame, model: type[ORMModel], required: set[str]) -> pl.DataFrame:
    """Check a user frame against ``model`` and cast it to the store's column types.

    Missing optional columns take the model's defaults; ids are generated when absent.
    """
    schema = frame_schema(model)
    unknown = sorted(set(frame.columns) - set(schema))
    if unknown:
        raise ValueError(f"unknown {model.__name__} columns: {', '.join(unknown)}")
    missing = sorted(required - set(frame.columns))
    if missing:
        raise ValueError(f"missing required {model.__name__} columns: {', '.join(missing)}")
    frame = frame.with_columns(
        pl.col(c).map_elements(_json_text, return_dtype=pl.String)
        if frame.schema[c] != pl.String
        else pl.col(c)
        for c in frame.columns
        if c in model.json_fields
    )
    defaults: list[pl.Expr] = []
    for name, dtype in schema.items():
        if name in frame.columns:
            continue
        if name == "id":
            defaults.append(pl.lit(None, pl.String).alias("id"))
            continue
        value = _default(model, name)
        defaults.append(pl.lit(value, dtype=dtype).alias(name))
    frame = frame.with_columns(defaults).select(
        pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()
    )
    _check_ids(frame, model)
    if "name" in frame.columns and model is not FlowRun:
        _check_names(frame, model)
    _check_json(frame, model)
    return frame


def _default(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if name in getattr(model, "json_fields", ()):
        return None if value is None else json.dumps(value)
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _check_ids(frame: pl.DataFrame, model: type[ORMModel]) -> None:
    for name, dtype in frame_schema(model).items():
        if dtype != pl.String() or name in model.json_fields:
            continue
        if not (name == "id" or name.endswith("_id")):
            continue
        bad = frame.filter(pl.col(name).is_not_null() & ~pl.col(name).str.contains(_UUID_RE))
        if bad.height:
            raise ValueError(f"{model.__name__}.{name}: {bad[name][0]!r} is not a valid UUID")


def _check_names(frame: pl.DataFrame, model: type[ORMModel]) -> None:
    bad = frame.filter(
        pl.col("name").is_null()
        | pl.col("name").str.contains(INVALID_NAME_CHARS.pattern)
        | (pl.col("name") == "")
    )
    if bad.height:
        raise ValueError(
            f"{model.__name__}.name {bad['name'][0]!r} is invalid: names must be non-empty "
            "and must not contain / % & > <"
        )


def _check_json(frame: pl.DataFrame, model: type[ORMModel]) -> None:
    """Every distinct JSON text must decode to what the model's field accepts."""
    for name in sorted(model.json_fields & set(frame.columns)):
        adapter = TypeAdapter(model.model_fields[name].annotation)
        for text in frame[name].drop_nulls().unique().to_list():
            try:
                adapter.validate_json(text)
            except ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                raise ValueError(f"{model.__name__}.{name}: {text[:80]!r} is invalid: {problem}") from None
