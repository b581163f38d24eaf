"""A tiny predicate tree: what filter models mean, independent of any engine.

Filter models (``deploykit.schemas.filters``) build these nodes; ``deploykit.filters``
compiles one tree both to DuckDB SQL (sqlglot) and to a Polars expression, so the
two can never disagree about a filter's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

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
