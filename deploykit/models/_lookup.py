"""The reads every entity module has: one row by id, or by name (cursor first, as ``fetch_model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from deploykit.models._args import as_name, as_uuid
from deploykit.models._rows import fetch_model
from deploykit.schemas.base import ORMModel

if TYPE_CHECKING:
    import duckdb

M = TypeVar("M", bound=ORMModel)


def fetch_by_id(cur: duckdb.DuckDBPyConnection, model: type[M], value: UUID | str, argument: str) -> M | None:
    """The row with id ``value`` of the table the argument names (``flow_run_id``: table
    ``flow_run``), as ``model``; ``None`` when there is none. A bad id is a ValueError
    naming ``argument``."""
    table = argument.removesuffix("_id")
    query = f"SELECT * FROM {table} WHERE id = $id"
    return fetch_model(cur, model, query, {"id": as_uuid(value, argument)})


def fetch_by_name(cur: duckdb.DuckDBPyConnection, model: type[M], table: str, name: str) -> M | None:
    """The row of ``table`` named ``name``, as ``model``; ``None`` when there is none."""
    query = f"SELECT * FROM {table} WHERE name = $n"
    return fetch_model(cur, model, query, {"n": as_name(name, "name")})
