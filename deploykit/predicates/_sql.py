"""Compile predicate trees to sqlglot expressions with bound (named) parameters.

User values never become SQL text: every literal is a ``$pN`` placeholder whose value
goes into the parameter dict handed to DuckDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlglot import exp

from deploykit.predicates import (
    BoolOp,
    Column,
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


class SqlCompiler:
    """Turns predicates into sqlglot conditions, collecting their parameters.

    One compiler serves one statement: every placeholder it makes is unique in it.

    Examples
    --------
    >>> from deploykit.schemas.filters import FlowFilter
    >>> c = SqlCompiler()
    >>> cond = c.compile(FlowFilter(name={"any_": ["etl"]}).as_predicate(), "f")
    >>> cond.sql("duckdb"), c.params
    ('f.name IN ($p0)', {'p0': 'etl'})
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> exp.Placeholder:
        """A new placeholder bound to ``value``."""
        name = f"p{len(self.params)}"
        self.params[name] = _db_value(value)
        return exp.Placeholder(this=name)

    def compile(self, node: Predicate, alias: str) -> exp.Expression:
        """The SQL condition for ``node`` over the table aliased ``alias``."""
        match node:
            case BoolOp(op, items):
                if not items:
                    return exp.true()
                parts = [self.compile(item, alias) for item in items]
                return exp.and_(*parts) if op == "and" else exp.or_(*parts)
            case IsIn(column, values, negate):
                if not values:
                    return exp.false() if not negate else exp.true()
                cond = _col(column, alias).isin(*(self.param(v) for v in values))
                return exp.not_(cond) if negate else cond
            case ContainsText(column, text):
                return exp.func("contains", exp.Lower(this=_col(column, alias)), self.param(text.lower()))
            case StartsWithAny(column, prefixes):
                if not prefixes:
                    return exp.false()
                lowered = exp.Lower(this=_col(column, alias))
                return exp.or_(
                    *(exp.func("starts_with", lowered.copy(), self.param(p.lower())) for p in prefixes)
                )
            case HasAll(column, values):
                if not values:
                    return exp.true()
                return exp.func("list_has_all", _col(column, alias), self.param(list(values)))
            case IsEmpty(column, empty):
                length = exp.func("len", _col(column, alias))
                zero = exp.Literal.number(0)
                return exp.EQ(this=length, expression=zero) if empty else exp.GT(this=length, expression=zero)
            case IsNull(column, null):
                cond = exp.Is(this=_col(column, alias), expression=exp.Null())
                return cond if null else exp.not_(cond)
            case Compare(column, op, value):
                ops = {"<=": exp.LTE, ">=": exp.GTE, "==": exp.EQ}
                return ops[op](this=_col(column, alias), expression=self.param(value))
            case HasSubflow(exists):
                sub = (
                    exp.select("1")
                    .from_(exp.to_table("flow_run").as_("sub"))
                    .where(exp.column("parent_task_run_id", "sub").eq(exp.column("id", alias)))
                )
                cond = exp.Exists(this=sub)
                return cond if exists else exp.not_(cond)
        raise TypeError(f"unknown predicate node {node!r}")


def _col(column: Column, alias: str) -> exp.Column:
    return exp.column(column.name, table=alias)


def _db_value(value: Any) -> Any:
    """Values as DuckDB binds them: aware datetimes in UTC, UUIDs as UUIDs."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, UUID | str | bool | int | float | list):
        return value
    return str(value)
