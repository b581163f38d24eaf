"""Set-based upserts of imported rows: validate a whole batch in SQL, then one INSERT per table.

Every importer turns its source into batches (Polars frames or Arrow tables) whose
columns are named as the store's columns, plus two optional helpers: ``work_pool_name``
(deployments and flow runs that name their queue by pool + queue name, as Prefect's
REST bodies do) and ``_source`` (the file a row came from, for error messages). A
:class:`Loader` writes such batches inside the caller's transaction:

1. every value must be readable as its column's type, required columns must be set,
   state types and names must be valid, an id must not appear twice with different
   content;
2. each batch is cast and de-duplicated into a staging table, where queues named by
   pool + name are resolved to ids;
3. references to flows, flow runs and pools must exist in the store or earlier in the
   same import (anti-joins), unique names must not clash with other rows;
4. ``UPDATE`` the rows whose id exists, ``INSERT`` the others: importing twice keeps one copy.

Any failure raises :class:`SourceError` or :class:`IntegrityError` naming the source,
the table, the row id and the problem; the caller's transaction then rolls back.
"""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
from pydantic import ValidationError

from deploykit._errors import IntegrityError, SourceError
from deploykit.io._report import ImportReport
from deploykit.models._rows import from_row, update_matched
from deploykit.schemas._base import INVALID_NAME_CHARS, ORMModel
from deploykit.schemas.core import Deployment, WorkPool, WorkQueue
from deploykit.schemas.states import StateType
from deploykit.store import Column, table_columns

HELPER_COLUMNS = ("work_pool_name", "_source")
"""Columns a batch may carry besides the table's own."""

LOAD_ORDER = ("work_pool", "work_queue", "flow", "deployment", "flow_run", "task_run")
"""Parents before children, so each batch's references can be checked when it arrives."""

_DEFAULTS: dict[str, dict[str, str]] = {
    "flow": {"tags": "[]::VARCHAR[]"},
    "work_pool": {"type": "'prefect-agent'", "is_paused": "false", "base_job_template": "'{}'"},
    "work_queue": {"is_paused": "false", "priority": "1"},
    "deployment": {
        "is_schedule_active": "true",
        "infra_overrides": "'{}'",
        "parameters": "'{}'",
        "tags": "[]::VARCHAR[]",
    },
    "flow_run": {"parameters": "'{}'", "tags": "[]::VARCHAR[]", "auto_scheduled": "false"},
    "task_run": {"dynamic_key": "'0'", "tags": "[]::VARCHAR[]"},
}
"""SQL defaults of the model fields that have one (Prefect's defaults)."""

_OPTIONAL = {t: frozenset({*d, "created", "updated"}) for t, d in _DEFAULTS.items()}
"""Non-null columns a source may leave out (defaults; ``created``/``updated`` default to now)."""

_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "work_queue": (("work_pool_id", "work_pool"),),
    "deployment": (("flow_id", "flow"), ("work_queue_id", "work_queue")),
    "flow_run": (("flow_id", "flow"),),
    "task_run": (("flow_run_id", "flow_run"),),
}
"""References checked batch by batch: the parent table is loaded first."""

_DEFERRED_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "work_pool": (("default_queue_id", "work_queue"),),
    "flow_run": (("parent_task_run_id", "task_run"),),
}
"""References to tables loaded later (cycles), checked once the import is complete."""

_UNIQUE: dict[str, tuple[tuple[str, ...], ...]] = {
    "flow": (("name",),),
    "work_pool": (("name",),),
    "work_queue": (("work_pool_id", "name"),),
    "deployment": (("flow_id", "name"),),
    "flow_run": (("flow_id", "idempotency_key"),),
    "task_run": (("flow_run_id", "task_key", "dynamic_key"),),
}

_FIXED_ON_UPDATE: dict[str, frozenset[str]] = {
    "work_pool": frozenset({"name"}),
    "work_queue": frozenset({"name", "work_pool_id"}),
}
"""Indexed columns of rows that foreign keys point at: DuckDB cannot update them in place."""

_VALIDATED_MODELS: dict[str, type[ORMModel]] = {
    "work_pool": WorkPool,
    "work_queue": WorkQueue,
    "deployment": Deployment,
}
"""Tables whose rows are also validated by their pydantic model (few rows, rich JSON)."""

_NAMED = ("flow", "work_pool", "work_queue", "deployment")
_STATE_TYPES = ", ".join(f"'{s.value}'" for s in StateType)


class Loader:
    """Writes batches of imported rows into the store within the caller's transaction.

    Parameters
    ----------
    cur
        The cursor of an open ``store.transaction()``.
    report
        Receives the inserted / updated counts.
    """

    def __init__(self, cur: duckdb.DuckDBPyConnection, report: ImportReport):
        self.cur = cur
        self.report = report
        self._deferred: set[tuple[str, str]] = set()

    def load(self, table: str, batch: pl.DataFrame | pa.Table, source: str) -> None:
        """Validate ``batch`` (rows of ``table`` read from ``source``) and upsert it by id."""
        arrow = batch.to_arrow() if isinstance(batch, pl.DataFrame) else batch
        if arrow.num_rows == 0:
            self.report.add(table, inserted=0, updated=0)
            return
        columns = table_columns(table)
        names = {c.name for c in columns}
        given = set(arrow.column_names)
        unknown = sorted(given - names - set(HELPER_COLUMNS))
        if unknown:
            raise SourceError(f"{source}: unknown {table} columns: {', '.join(unknown)}")
        required = {c.name for c in columns if not c.nullable} - _OPTIONAL[table]
        missing = sorted(required - given)
        if missing:
            raise SourceError(f"{source}: {table} rows lack the column(s) {', '.join(missing)}")
        self.cur.register("_dk_src", arrow)
        try:
            self._check_values(table, columns, given, source)
            self._check_duplicates(table, given, source)
            self._stage(table, columns, given)
        finally:
            self.cur.unregister("_dk_src")
        try:
            self._check_staged(table, source)
            self._upsert(table, columns)
        finally:
            self.cur.execute("DROP TABLE IF EXISTS _dk_stage")
        self._deferred.update((table, col) for col, _ in _DEFERRED_REFERENCES.get(table, ()))

    def finish(self, source: str) -> None:
        """Check the references that could only be checked once every table was loaded."""
        for table, column in sorted(self._deferred):
            parent = dict(_DEFERRED_REFERENCES[table])[column]
            rows = self.cur.execute(
                f"SELECT CAST(s.id AS VARCHAR), CAST(s.{column} AS VARCHAR) FROM {table} s "
                f"WHERE s.{column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = s.{column}) "
                "ORDER BY 1 LIMIT 1"
            ).fetchall()
            if rows:
                row_id, value = rows[0]
                raise IntegrityError(
                    f"{source}: {table} {row_id}: {column} {value} does not refer to an "
                    f"existing {parent} (neither in the store nor in this import)"
                )

    # -- steps ---------------------------------------------------------------------------

    def _first(self, query: str) -> tuple[str, str, str] | None:
        rows = self.cur.execute(query).fetchall()
        return rows[0] if rows else None

    def _check_values(self, table: str, columns: tuple[Column, ...], given: set[str], source: str) -> None:
        """Unreadable values, missing required ones, bad state types and names."""
        where = "COALESCE(_source, $src)" if "_source" in given else "$src"
        checks = [("'id is missing'", "id IS NULL")]
        for col in columns:
            if col.name not in given:
                continue
            if col.type not in ("VARCHAR", "VARCHAR[]"):
                checks.append(
                    (
                        f"'column {col.name}: cannot read ' || CAST({col.name} AS VARCHAR) "
                        f"|| ' as {col.type}'",
                        f"{col.name} IS NOT NULL AND TRY_CAST({col.name} AS {col.type}) IS NULL",
                    )
                )
            if not col.nullable and col.name not in _OPTIONAL[table]:
                checks.append((f"'column {col.name} is missing'", f"{col.name} IS NULL"))
        if "state_type" in given:
            checks.append(("'unknown state type ' || state_type", f"state_type NOT IN ({_STATE_TYPES})"))
        if table in _NAMED:
            checks.append(
                (
                    "'name ' || name || ' contains one of / % & > <'",
                    f"regexp_matches(name, '{INVALID_NAME_CHARS.pattern}')",
                )
            )
        union = " UNION ALL ".join(
            f"SELECT CAST(id AS VARCHAR), {where}, {problem} FROM _dk_src WHERE {condition}"
            for problem, condition in checks
        )
        rows = self.cur.execute(f"{union} LIMIT 1", {"src": source}).fetchall()
        if rows:
            row_id, src, problem = rows[0]
            raise SourceError(f"{src}: {table} {row_id or '(no id)'}: {problem}")

    def _check_duplicates(self, table: str, given: set[str], source: str) -> None:
        """The same id twice in one batch is fine only with identical content."""
        cols = ", ".join(sorted(given - {"_source"}))
        rows = self.cur.execute(
            f"SELECT CAST(id AS VARCHAR), count(*) FROM (SELECT DISTINCT {cols} FROM _dk_src) "
            "GROUP BY id HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
        ).fetchall()
        if rows:
            raise SourceError(
                f"{source}: {table} {rows[0][0]} appears {rows[0][1]} times with different content"
            )

    def _stage(self, table: str, columns: tuple[Column, ...], given: set[str]) -> None:
        """Cast, fill defaults, de-duplicate and resolve queue names into ``_dk_stage``."""
        defaults = _DEFAULTS[table]
        selects = []
        for col in columns:
            value = f"CAST({col.name} AS {col.type})" if col.name in given else "NULL"
            if col.name in defaults:
                value = f"COALESCE({value}, {defaults[col.name]})"
            elif col.name == "created":
                value = f"COALESCE({value}, now())"
            elif col.name == "updated":
                created = "CAST(created AS TIMESTAMPTZ)" if "created" in given else "NULL"
                value = f"COALESCE({value}, {created}, now())"
            selects.append(f"{value}::{col.type} AS {col.name}")
        pool = "work_pool_name" if "work_pool_name" in given else "NULL::VARCHAR"
        if table in ("deployment", "flow_run"):
            selects.append(f"{pool} AS work_pool_name")
        self.cur.execute(
            f"CREATE OR REPLACE TEMP TABLE _dk_stage AS SELECT DISTINCT {', '.join(selects)} FROM _dk_src"
        )
        if table in ("deployment", "flow_run"):
            self.cur.execute(
                "UPDATE _dk_stage s SET work_queue_id = q.id FROM work_queue q "
                "JOIN work_pool p ON p.id = q.work_pool_id "
                "WHERE s.work_queue_id IS NULL AND s.work_pool_name = p.name "
                "AND s.work_queue_name = q.name"
            )

    def _check_staged(self, table: str, source: str) -> None:
        """References, unique keys, pool/queue renames and model validation."""
        if table == "deployment":
            found = self._first(
                "SELECT CAST(id AS VARCHAR), work_pool_name, work_queue_name FROM _dk_stage "
                "WHERE work_queue_id IS NULL AND work_pool_name IS NOT NULL "
                "AND work_queue_name IS NOT NULL ORDER BY 1 LIMIT 1"
            )
            if found:
                raise IntegrityError(
                    f"{source}: deployment {found[0]}: work pool {found[1]!r} has no work queue "
                    f"{found[2]!r} (neither in the store nor in this import)"
                )
        for column, parent in _REFERENCES.get(table, ()):
            found = self._first(
                f"SELECT CAST(s.id AS VARCHAR), CAST(s.{column} AS VARCHAR) FROM _dk_stage s "
                f"WHERE s.{column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = s.{column}) "
                "ORDER BY 1 LIMIT 1"
            )
            if found:
                raise IntegrityError(
                    f"{source}: {table} {found[0]}: {column} {found[1]} does not refer to an "
                    f"existing {parent} (neither in the store nor in this import)"
                )
        for key in _UNIQUE[table]:
            self._check_unique(table, key, source)
        fixed = _FIXED_ON_UPDATE.get(table, frozenset())
        for column in sorted(fixed):
            found = self._first(
                f"SELECT CAST(s.id AS VARCHAR), CAST(t.{column} AS VARCHAR), "
                f"CAST(s.{column} AS VARCHAR) FROM _dk_stage s JOIN {table} t ON t.id = s.id "
                f"WHERE t.{column} IS DISTINCT FROM s.{column} ORDER BY 1 LIMIT 1"
            )
            if found:
                raise IntegrityError(
                    f"{source}: {table} {found[0]}: {column} changes from {found[1]!r} to "
                    f"{found[2]!r}; an import cannot rename or move an existing {table}"
                )
        model = _VALIDATED_MODELS.get(table)
        if model is not None:
            for row in self.cur.sql("FROM _dk_stage").pl().iter_rows(named=True):
                try:
                    from_row(model, row)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"])
                    raise SourceError(f"{source}: {table} {row['id']}: {where}: {first['msg']}") from None

    def _check_unique(self, table: str, key: tuple[str, ...], source: str) -> None:
        """No two rows (in the batch, or batch vs store) share a unique key under different ids."""
        on = " AND ".join(f"a.{k} = b.{k}" for k in key)
        label = ", ".join(key)
        found = self._first(
            f"SELECT CAST(a.id AS VARCHAR), CAST(b.id AS VARCHAR), "
            f"CAST(struct_pack({', '.join(f'a.{k}' for k in key)}) AS VARCHAR) "
            f"FROM _dk_stage a JOIN _dk_stage b ON {on} AND a.id < b.id ORDER BY 1 LIMIT 1"
        )
        where = "in this import"
        if not found:
            found = self._first(
                f"SELECT CAST(a.id AS VARCHAR), CAST(b.id AS VARCHAR), "
                f"CAST(struct_pack({', '.join(f'a.{k}' for k in key)}) AS VARCHAR) "
                f"FROM _dk_stage a JOIN {table} b ON {on} AND a.id <> b.id "
                "WHERE b.id NOT IN (SELECT id FROM _dk_stage) ORDER BY 1 LIMIT 1"
            )
            where = "in the store"
        if found:
            raise IntegrityError(
                f"{source}: {table} {found[0]}: ({label}) = {found[2]} is already used by "
                f"{table} {found[1]} {where}"
            )

    def _upsert(self, table: str, columns: tuple[Column, ...]) -> None:
        """Update the staged rows that exist, insert the others; count both.

        Columns DuckDB cannot update in place (lists, keys, indexed columns) are written
        only where they differ: re-importing unchanged rows would otherwise rewrite
        every one of them.
        """
        total, existing = self.cur.execute(
            f"SELECT count(*), count(t.id) FROM _dk_stage s LEFT JOIN {table} t ON t.id = s.id"
        ).fetchall()[0]
        fixed = _FIXED_ON_UPDATE.get(table, frozenset()) | {"id"}
        if existing:
            updated = [c.name for c in columns if c.name not in fixed]
            update_matched(self.cur, table, "_dk_stage", "t.id = s.id", updated)
        cols = ", ".join(c.name for c in columns)
        staged = ", ".join(f"s.{c.name}" for c in columns)
        self.cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {staged} FROM _dk_stage AS s "
            f"ANTI JOIN {table} AS t ON t.id = s.id"
        )
        self.report.add(table, inserted=total - existing, updated=existing)
