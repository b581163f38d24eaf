"""Predicates: what a filter means, as a small tree that no engine owns.

The filter models (:mod:`deploykit.schemas.filters`) build these nodes. Two compilers
sit beside them and below everything else: :class:`SqlCompiler` (sqlglot conditions
for DuckDB, every value a bound parameter) and :func:`to_polars` (a Polars expression
for any DataFrame with the same columns). One tree, two compilers: the engines cannot
disagree about a filter's meaning. This package imports nothing else of deploykit, and
the compilers (with sqlglot and Polars) load only when first used.

Case-insensitive matching (:class:`Like`) follows one rule on both engines: both the
text and the pattern are lowercased with Unicode's *simple* lowercase mapping, one code
point to one code point, with no context and no locale (``UnicodeData.txt`` as the
Rust standard library under Polars ships it: Unicode 17), and are then compared
exactly. So ``"İstanbul"`` folds to ``"istanbul"``, ``"ΣΊΣΥΦΟΣ"`` to ``"σίσυφοσ"``
(every capital sigma becomes ``σ``; a written final ``ς`` stays ``ς``), ``"STRAẞE"``
to ``"straße"``, while ``ß`` never matches ``"ss"``. Neither engine's default is that
rule (DuckDB's ``lower()`` has an older Unicode table, Polars' ``to_lowercase`` maps
``İ`` to two code points and writes word-final sigmas as ``ς``); each compiler adjusts
its engine, and a test checks every code point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

if TYPE_CHECKING:
    from deploykit.predicates._polars import to_polars
    from deploykit.predicates._sql import SqlCompiler

ColumnKind = Literal["uuid", "str", "list", "bool", "int", "timestamp"]
Scalar = str | UUID | bool | int | datetime


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
class Like:
    """Case-insensitive SQL ``LIKE``: the whole text matches ``pattern``.

    In the pattern ``%`` stands for any run of characters (newlines included) and
    ``_`` for exactly one character (one code point); every other character, the
    backslash included, stands for itself: there is no escape character. Case is
    ignored by the rule in this module's docstring. ``Like(c, "%x%")`` is Prefect's
    ``ILIKE '%x%'`` (``like_``), ``Like(c, "x%")`` its ``ILIKE 'x%'`` (``startswith_``).
    """

    column: Column
    pattern: str


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
    """AND / OR of sub-predicates; an empty AND is true, an empty OR false."""

    op: Literal["and", "or"]
    items: tuple[Predicate, ...]


Predicate = IsIn | Like | HasAll | IsEmpty | IsNull | Compare | HasSubflow | BoolOp

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
    "HasAll",
    "HasSubflow",
    "IsEmpty",
    "IsIn",
    "IsNull",
    "Like",
    "Predicate",
    "Scalar",
    "SqlCompiler",
    "to_polars",
]
