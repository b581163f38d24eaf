"""Predicates: what a filter means, as a small tree that no engine owns.

The filter models (:mod:`deploykit.schemas.filters`) build these nodes. Two compilers
sit beside them and below everything else: :class:`SqlCompiler` (sqlglot conditions
for DuckDB, every value a bound parameter) and :func:`to_polars` (a Polars expression
for any DataFrame with the same columns). One tree, two compilers: the engines cannot
disagree about a filter's meaning. This package imports nothing else of deploykit, and
the compilers (with sqlglot and Polars) load only when first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

if TYPE_CHECKING:
    from deploykit.predicates._polars import to_polars
    from deploykit.predicates._sql import SqlCompiler

ColumnKind = Literal["uuid", "str", "list", "bool", "timestamp"]
Scalar = str | UUID | bool | datetime


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the filtered table and the kind of values it holds."""

    name: str
    kind: ColumnKind


@dataclass(frozen=True, slots=True)
class IsIn:
    """The column's value is one of ``values`` (or, negated, none of them)."""

    column: Column
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class ContainsText:
    """Case-insensitive substring match."""

    column: Column
    text: str


@dataclass(frozen=True, slots=True)
class StartsWithAny:
    """Case-insensitive prefix match against any of ``prefixes``."""

    column: Column
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HasAll:
    """The list column holds every one of ``values``."""

    column: Column
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IsEmpty:
    """The list column is empty (``empty=True``) or not."""

    column: Column
    empty: bool


@dataclass(frozen=True, slots=True)
class IsNull:
    """The column is null (``null=True``) or not."""

    column: Column
    null: bool


@dataclass(frozen=True, slots=True)
class Compare:
    """``column <op> value`` with inclusive bounds."""

    column: Column
    op: Literal["<=", ">=", "=="]
    value: Scalar


@dataclass(frozen=True, slots=True)
class HasSubflow:
    """The task run has (``exists=True``) or lacks a child flow run."""

    exists: bool


@dataclass(frozen=True, slots=True)
class BoolOp:
    """AND / OR of sub-predicates; an empty AND is true."""

    op: Literal["and", "or"]
    items: tuple[Predicate, ...]


Predicate = IsIn | ContainsText | StartsWithAny | HasAll | IsEmpty | IsNull | Compare | HasSubflow | BoolOp

TRUE = BoolOp("and", ())


def __getattr__(name: str) -> Any:
    """Load a compiler (and its engine library) on first use."""
    if name == "SqlCompiler":
        from deploykit.predicates._sql import SqlCompiler

        return SqlCompiler
    if name == "to_polars":
        from deploykit.predicates._polars import to_polars

        return to_polars
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TRUE",
    "BoolOp",
    "Column",
    "ColumnKind",
    "Compare",
    "ContainsText",
    "HasAll",
    "HasSubflow",
    "IsEmpty",
    "IsIn",
    "IsNull",
    "Predicate",
    "Scalar",
    "SqlCompiler",
    "StartsWithAny",
    "to_polars",
]
