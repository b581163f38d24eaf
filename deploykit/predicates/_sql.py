"""Compile predicate trees to sqlglot expressions with bound (named) parameters.

User values never become SQL text: every literal is a ``$pN`` placeholder whose value
goes into the parameter dict handed to DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlglot import exp

import deploykit.predicates as ir

# Capital letters whose simple lowercase DuckDB's lower() does not know yet (its Unicode
# table predates Unicode 16 and 17), with their lowercase: Cyrillic TJE, Latin additions,
# Garay, Beria Erfe. The test over every code point keeps this list complete.
_NEWER_CAPITALS = (
    "\u1c89\ua7cb\ua7cc\ua7ce\ua7d2\ua7d4\ua7da\ua7dc"
    + "".join(map(chr, range(0x10D50, 0x10D66)))
    + "".join(map(chr, range(0x16EA0, 0x16EB9)))
)
_THEIR_LOWERCASE = (
    "\u1c8a\u0264\ua7cd\ua7cf\ua7d3\ua7d5\ua7db\u019b"
    + "".join(map(chr, range(0x10D70, 0x10D86)))
    + "".join(map(chr, range(0x16EBB, 0x16ED4)))
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
        self._newer_case: tuple[exp.Placeholder, exp.Placeholder] | None = None

    def param(self, value: Any) -> exp.Placeholder:
        """A new placeholder bound to ``value``."""
        name = f"p{len(self.params)}"
        self.params[name] = _db_value(value)
        return exp.Placeholder(this=name)

    def fold(self, text: exp.Expression) -> exp.Expression:
        """``text`` under the case rule of :mod:`deploykit.predicates`, in DuckDB SQL.

        DuckDB's ``lower()`` is Unicode's simple, context-free lowercase (``İ`` gives
        ``i``, every ``Σ`` gives ``σ``) from an older table; ``translate`` lowers the
        letters added since. The two translate strings are bound once per statement.
        """
        if self._newer_case is None:
            self._newer_case = (self.param(_NEWER_CAPITALS), self.param(_THEIR_LOWERCASE))
        capitals, lowercase = self._newer_case
        return exp.func("translate", exp.Lower(this=text), capitals.copy(), lowercase.copy())

    def compile(
        self, node: ir.Predicate, alias: str, *, columns: Mapping[str, exp.Expression] | None = None
    ) -> exp.Expression:
        """The SQL condition for ``node`` over the table aliased ``alias``.

        ``columns`` gives SQL for columns that table lacks, e.g. a deployment's
        ``flow_name`` as a correlated subquery over ``flow``; any other column is
        ``alias.name``.

        Examples
        --------
        >>> import sqlglot
        >>> from deploykit.schemas.filters import DeploymentFilter
        >>> flow_name = sqlglot.parse_one("(SELECT f.name FROM flow AS f WHERE f.id = d.flow_id)")
        >>> f = DeploymentFilter(flow_or_deployment_name={"like_": "etl"})
        >>> c = SqlCompiler()
        >>> print(c.compile(f.as_predicate(), "d", columns={"flow_name": flow_name}).sql("duckdb"))
        TRANSLATE(LOWER(d.name), $p0, $p1) LIKE TRANSLATE(LOWER($p2), $p0, $p1)
        OR TRANSLATE(LOWER((SELECT f.name FROM flow AS f WHERE f.id = d.flow_id)), $p0, $p1)
        LIKE TRANSLATE(LOWER($p3), $p0, $p1)
        >>> c.params["p2"], c.params["p3"]
        ('%etl%', '%etl%')
        """
        resolved = dict(columns or {})

        def col(column: ir.Column) -> exp.Expression:
            found = resolved.get(column.name)
            return found.copy() if found is not None else exp.column(column.name, table=alias)

        def walk(node: ir.Predicate) -> exp.Expression:
            match node:
                case ir.BoolOp(op, items):
                    if not items:
                        return exp.true() if op == "and" else exp.false()
                    parts = [walk(item) for item in items]
                    return exp.and_(*parts) if op == "and" else exp.or_(*parts)
                case ir.IsIn(column, values, negate):
                    if not values:
                        return exp.false() if not negate else exp.true()
                    cond = col(column).isin(*(self.param(v) for v in values))
                    return exp.not_(cond) if negate else cond
                case ir.Like(column, pattern):
                    return exp.Like(this=self.fold(col(column)), expression=self.fold(self.param(pattern)))
                case ir.HasAll(column, values):
                    if not values:
                        return exp.true()
                    return exp.func("list_has_all", col(column), self.param(list(values)))
                case ir.IsEmpty(column, empty):
                    length = exp.func("len", col(column))
                    zero = exp.Literal.number(0)
                    if empty:
                        return exp.EQ(this=length, expression=zero)
                    return exp.GT(this=length, expression=zero)
                case ir.IsNull(column, null):
                    cond = exp.Is(this=col(column), expression=exp.Null())
                    return cond if null else exp.not_(cond)
                case ir.Compare(column, op, value):
                    ops = {"<=": exp.LTE, ">=": exp.GTE, "==": exp.EQ}
                    return ops[op](this=col(column), expression=self.param(value))
                case ir.HasSubflow(exists):
                    sub = (
                        exp.select("1")
                        .from_(exp.to_table("flow_run").as_("sub"))
                        .where(exp.column("parent_task_run_id", "sub").eq(exp.column("id", alias)))
                    )
                    cond = exp.Exists(this=sub)
                    return cond if exists else exp.not_(cond)
            raise TypeError(f"unknown predicate node {node!r}")

        return walk(node)


def _db_value(value: Any) -> Any:
    """Values as DuckDB binds them: aware datetimes in UTC, UUIDs as UUIDs."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, UUID | str | bool | int | float | list):
        return value
    return str(value)
