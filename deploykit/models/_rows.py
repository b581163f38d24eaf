"""Conversions between schema models and store rows (dicts ready for DuckDB)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import duckdb
from pydantic_core import to_jsonable_python

from deploykit.schemas.base import ORMModel
from deploykit.schemas.frames import from_row
from deploykit.store import rewritten_columns

M = TypeVar("M", bound=ORMModel)


def to_row(model: ORMModel, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The DuckDB values of ``fields`` of ``model`` (all fields when ``None``)."""
    cls = type(model)
    names = cls.model_fields if fields is None else fields
    return {name: db_value(cls, name, getattr(model, name)) for name in names}


def db_value(model: type[ORMModel], name: str, value: Any) -> Any:
    """How the store holds ``value`` of field ``name``: JSON text, UTC timestamps, plain enums."""
    if name in model.json_fields:
        if value is None:
            return None
        try:
            return json.dumps(to_jsonable_python(value))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{model.__name__}.{name} cannot be stored as JSON: {exc}") from None
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC)
        except OverflowError:  # an offset carries it past year 9999 (or before year 1) in UTC
            raise ValueError(
                f"{model.__name__}.{name} {value.isoformat()} is out of range "
                "(finite times in years 1 to 9999, in UTC)"
            ) from None
    if isinstance(value, Enum):
        return value.value
    return value


def fetch_model(
    cur: duckdb.DuckDBPyConnection,
    model: type[M],
    query: str,
    params: dict[str, Any],
    match: dict[str, Any] | None = None,
) -> M | None:
    """Run ``query`` and return its first row as ``model`` (with ``match``, its first row
    whose columns equal those values), or ``None``.

    ``match`` is checked here rather than in SQL where a second filter column would stop
    DuckDB from answering the query with a one-column index lookup.
    """
    result = cur.execute(query, params)
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    if match:
        rows = [row for row in rows if all(row[k] == v for k, v in match.items())]
    return from_row(model, rows[0]) if rows else None


def fetch_models(
    cur: duckdb.DuckDBPyConnection, model: type[M], query: str, params: dict[str, Any]
) -> list[M]:
    """Every row of ``query`` as ``model``."""
    result = cur.execute(query, params)
    names = [d[0] for d in result.description]
    return [from_row(model, dict(zip(names, row, strict=True))) for row in result.fetchall()]


def insert_sql(table: str, columns: Iterable[str]) -> str:
    """``INSERT INTO table (cols) VALUES ($cols)`` for trusted, code-defined column names."""
    cols = list(columns)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('$' + c for c in cols)})"


def update_sql(table: str, columns: Iterable[str]) -> str:
    """``UPDATE table SET col = $col ... WHERE id = $id`` for code-defined column names."""
    sets = ", ".join(f"{c} = ${c}" for c in columns)
    return f"UPDATE {table} SET {sets} WHERE id = $id"


def update_matched(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    match: str,
    columns: Iterable[str],
    *,
    value: Callable[[str], str] = lambda column: f"s.{column}",
    also: Iterable[str] = (),
    params: dict[str, Any] | None = None,
) -> int:
    """Update the rows of ``table`` (alias ``t``) that ``match`` pairs with rows of ``source``
    (alias ``s``): ``column = value(column)`` for each column, plus the ``also`` assignments.

    Columns DuckDB updates in place are set on every matched row; the others (lists,
    keys, indexed columns: ``rewritten_columns``), which DuckDB can only change by
    rewriting the row with every index, are set only where they differ, so writing
    unchanged rows again stays cheap. Returns how many rows matched. Names are trusted,
    code-defined SQL; ``params`` binds the values ``also`` refers to.
    """
    rewritten = rewritten_columns(table)
    cols = list(columns)
    sets = ", ".join([f"{c} = {value(c)}" for c in cols if c not in rewritten] + list(also))
    if sets:
        update = f"UPDATE {table} AS t SET {sets} FROM {source} AS s WHERE {match}"
        matched = cur.execute(update, params).fetchall()[0][0]
    else:
        count = f"SELECT count(*) FROM {table} AS t JOIN {source} AS s ON {match}"
        matched = cur.execute(count).fetchall()[0][0]
    differing = [c for c in cols if c in rewritten]
    if matched and differing:
        sets = ", ".join(f"{c} = {value(c)}" for c in differing)
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM {value(c)}" for c in differing)
        cur.execute(f"UPDATE {table} AS t SET {sets} FROM {source} AS s WHERE {match} AND ({differs})")
    return matched
