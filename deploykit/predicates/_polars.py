"""Compile predicate trees to Polars expressions (the same meaning as the SQL)."""

from __future__ import annotations

import functools
import operator
from datetime import UTC, datetime

import polars as pl

from deploykit.predicates import (
    BoolOp,
    Compare,
    ContainsText,
    HasAll,
    HasSubflow,
    IsEmpty,
    IsIn,
    IsNull,
    Predicate,
    StartsWithAny,
)


def to_polars(node: Predicate) -> pl.Expr:
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
        case BoolOp(op, items):
            if not items:
                return pl.lit(True)
            combine = operator.and_ if op == "and" else operator.or_
            return functools.reduce(combine, (to_polars(item) for item in items))
        case IsIn(column, values, negate):
            if not values:
                return pl.lit(negate)
            cond = pl.col(column.name).is_in([_frame_value(v) for v in values])
            return ~cond if negate else cond
        case ContainsText(column, text):
            return pl.col(column.name).str.to_lowercase().str.contains(text.lower(), literal=True)
        case StartsWithAny(column, prefixes):
            if not prefixes:
                return pl.lit(False)
            lowered = pl.col(column.name).str.to_lowercase()
            return functools.reduce(operator.or_, (lowered.str.starts_with(p.lower()) for p in prefixes))
        case HasAll(column, values):
            if not values:
                return pl.lit(True)
            col = pl.col(column.name)
            return functools.reduce(operator.and_, (col.list.contains(v) for v in values))
        case IsEmpty(column, empty):
            length = pl.col(column.name).list.len()
            return length == 0 if empty else length > 0
        case IsNull(column, null):
            return pl.col(column.name).is_null() if null else pl.col(column.name).is_not_null()
        case Compare(column, op, value):
            col, lit = pl.col(column.name), pl.lit(_frame_value(value))
            return {"<=": col <= lit, ">=": col >= lit, "==": col == lit}[op]
        case HasSubflow(exists):
            return pl.col("has_subflow") == exists
    raise TypeError(f"unknown predicate node {node!r}")


def _frame_value(value: object) -> object:
    """Values as deploykit DataFrames hold them: ids as strings, timestamps in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, bool | str | int | float):
        return value
    return str(value)
