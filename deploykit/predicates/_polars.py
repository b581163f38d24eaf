"""Compile predicate trees to Polars expressions (the same meaning as the SQL)."""

from __future__ import annotations

import functools
import operator
from datetime import UTC, datetime

import polars as pl

import deploykit.predicates as ir


def to_polars(node: ir.Predicate) -> pl.Expr:
    """A Polars expression selecting the rows ``node`` selects.

    Ids compare as strings, timestamps in UTC; ``HasSubflow`` reads ``has_subflow``.

    Examples
    --------
    >>> from deploykit.schemas.filters import WorkQueueFilter
    >>> df = pl.DataFrame({"name": ["High-k8s", "low"]})
    >>> df.filter(to_polars(WorkQueueFilter(name={"startswith_": ["high"]}).as_predicate()))
    shape: (1, 1)
    ┌──────────┐
    │ name     │
    │ ---      │
    │ str      │
    ╞══════════╡
    │ High-k8s │
    └──────────┘
    """
    match node:
        case ir.BoolOp(op, items):
            if not items:
                return pl.lit(op == "and")
            combine = operator.and_ if op == "and" else operator.or_
            return functools.reduce(combine, (to_polars(item) for item in items))
        case ir.IsIn(column, values, negate):
            if not values:
                return pl.lit(negate)
            cond = pl.col(column.name).is_in([_frame_value(v) for v in values])
            return ~cond if negate else cond
        case ir.Like(column, pattern):
            return _like(fold(pl.col(column.name)), fold_text(pattern))
        case ir.HasAll(column, values):
            if not values:
                return pl.lit(True)
            col = pl.col(column.name)
            return functools.reduce(operator.and_, (col.list.contains(v) for v in values))
        case ir.IsEmpty(column, empty):
            length = pl.col(column.name).list.len()
            return length == 0 if empty else length > 0
        case ir.IsNull(column, null):
            return pl.col(column.name).is_null() if null else pl.col(column.name).is_not_null()
        case ir.Compare(column, op, value):
            col, lit = pl.col(column.name), pl.lit(_frame_value(value))
            return {"<=": col <= lit, ">=": col >= lit, "==": col == lit}[op]
        case ir.HasSubflow(exists):
            return pl.col("has_subflow") == exists
    raise TypeError(f"unknown predicate node {node!r}")


def fold(text: pl.Expr) -> pl.Expr:
    """``text`` under the case rule of :mod:`deploykit.predicates`, in Polars.

    ``str.to_lowercase`` is Rust's full lowercase: it turns ``İ`` into ``i`` plus a
    combining dot and a word-final ``Σ`` into ``ς``. Writing those two capitals as
    ``i`` and ``σ`` first leaves Unicode's simple lowercase.
    """
    return text.str.replace_many(["\u0130", "\u03a3"], ["i", "\u03c3"]).str.to_lowercase()


def fold_text(text: str) -> str:
    """A Python string folded by :func:`fold` (Polars' Unicode table, not Python's)."""
    return pl.select(fold(pl.lit(text, dtype=pl.String))).item()


def _like(text: pl.Expr, pattern: str) -> pl.Expr:
    """``text LIKE pattern`` for folded text and pattern (see :class:`Like`).

    Patterns that are a literal between ``%``s (``like_``) or before one
    (``startswith_``) use substring and prefix tests; any other pattern becomes an
    anchored regular expression in which every literal character is a ``\\x{..}`` escape.
    """
    core = pattern.strip("%")
    if "%" not in core and "_" not in core:
        if pattern.startswith("%") and pattern.endswith("%"):
            return text.str.contains(core, literal=True)
        if pattern.endswith("%"):
            return text.str.starts_with(core)
    return text.str.contains(_like_regex(pattern))


def _like_regex(pattern: str) -> str:
    """The regular expression (Rust syntax) matching exactly what ``LIKE pattern`` does.

    >>> _like_regex("%oy-1_")
    '(?s)^.*oy\\\\x{2D}1.$'
    """
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        elif char.isascii() and char.isalnum():
            parts.append(char)
        else:
            parts.append(f"\\x{{{ord(char):X}}}")
    return "(?s)^" + "".join(parts) + "$"


def _frame_value(value: object) -> object:
    """Values as deploykit DataFrames hold them: ids as strings, timestamps in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, bool | str | int | float):
        return value
    return str(value)
