"""What the store's DDL says about its tables, read once from DuckDB's own catalog.

The bulk writers (``create_deployments`` and the importers) need each table's columns
and types, and which columns DuckDB cannot update in place. DuckDB updates a row in
place unless the update touches a list column or a column of an index or key; then it
rewrites the row (delete + insert, upkeep of every index), which costs about 30 us a
row plus a heavier commit. Bulk upserts therefore write those columns only where the
value differs, so re-writing unchanged rows stays cheap.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

from deploykit.store._connection import _host_connection
from deploykit.store._ddl import DDL

__all__ = ["Column", "rewritten_columns", "table_columns"]


@dataclass(frozen=True)
class Column:
    """One column of a store table."""

    name: str
    type: str
    nullable: bool


_attached = itertools.count()
"""Numbers the catalog's scratch databases: two threads may read the catalog at once, before it is cached."""


@cache
def _catalog() -> tuple[dict[str, tuple[Column, ...]], dict[str, frozenset[str]]]:
    """Columns of each table, and the columns of its keys and indexes, from an empty store."""
    import sqlglot  # heavy: only the bulk writers need the catalog
    from sqlglot import exp

    # an empty store attached to the process's DuckDB host: 5 ms, where a DuckDB instance
    # of its own takes 100 ms to start
    name = f"dk_catalog_{next(_attached)}"
    conn = _host_connection().cursor()
    try:
        conn.execute(f"ATTACH ':memory:' AS {name}")
        conn.execute(f"USE {name}")
        conn.execute(DDL)
        columns: dict[str, list[Column]] = {}
        for table, column, kind, nullable in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE NOT internal AND database_name = $db ORDER BY table_name, column_index",
            {"db": name},
        ).fetchall():
            columns.setdefault(table, []).append(Column(column, kind, nullable))
        indexed: dict[str, set[str]] = {}
        for table, names in conn.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') AND database_name = $db",
            {"db": name},
        ).fetchall():
            indexed.setdefault(table, set()).update(names)
        for table, sql in conn.execute(
            "SELECT table_name, sql FROM duckdb_indexes() WHERE database_name = $db", {"db": name}
        ).fetchall():
            index = sqlglot.parse_one(sql, dialect="duckdb")
            indexed.setdefault(table, set()).update(c.name for c in index.find_all(exp.Column))
    finally:
        conn.execute("USE memory")
        conn.execute(f"DETACH DATABASE IF EXISTS {name}")
        conn.close()
    return (
        {table: tuple(cols) for table, cols in columns.items()},
        {table: frozenset(names) for table, names in indexed.items()},
    )


def table_columns(table: str) -> tuple[Column, ...]:
    """The columns of ``table`` in the store's DDL, in order.

    Examples
    --------
    >>> [c.name for c in table_columns("flow")]
    ['id', 'created', 'updated', 'name', 'tags', 'labels', 'extra']
    """
    return _catalog()[0][table]


def rewritten_columns(table: str) -> frozenset[str]:
    """Columns of ``table`` that DuckDB cannot update in place: lists, keys and indexed columns.

    Examples
    --------
    >>> sorted(rewritten_columns("deployment"))
    ['flow_id', 'id', 'name', 'tags', 'work_queue_id']
    """
    lists = {c.name for c in table_columns(table) if c.type.endswith("[]")}
    return frozenset(lists | _catalog()[1].get(table, frozenset()))
