"""The one staged writer: every bulk write and every import goes through :class:`Writer`.

A batch (a Polars frame or an Arrow table) holds rows of one store table, with columns
named as the table's, plus two optional helpers: ``work_pool_name`` (deployments and
flow runs that name their queue by pool + queue name, as Prefect's REST bodies do) and
``_source`` (the file a row came from, for error messages). :meth:`Writer.write` takes
such a batch inside the caller's transaction:

1. every value must be readable as its column's type (timestamps finite and within
   years 1 to 9999, JSON valid and at most ``MAX_JSON_DEPTH`` deep), required columns
   must be set, state types and names valid, a key must not repeat with other content;
2. the batch is cast, given the schema's defaults and de-duplicated into a staging
   table, where queues named by pool + name are resolved to ids;
3. references must exist in the store or earlier in the same write, unique keys (read
   from DuckDB's catalog) must not clash, JSON and constrained fields must be what the
   pydantic schema accepts;
4. rows matching a stored row on the write's key are updated (lists, keys and indexed
   columns rewritten only where they differ: :func:`update_matched`), the others
   inserted; or, with ``on_conflict="skip"``, rows clashing with stored ones are skipped
   (``"error"``: refused).

The rules come from the schemas (``deploykit.schemas``: banned name characters, state
types, defaults, field constraints) and the store's catalog (columns, types, nullability,
unique keys); nothing restates them. Any failure raises the writer's ``invalid`` error
(:class:`ValueError` by default; the importers pass their ``SourceError``) or
:class:`~deploykit.IntegrityError`, naming the source, the table, the row and the field;
the caller's transaction then rolls back.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from uuid import UUID

import duckdb
import polars as pl
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from deploykit.store import Column, table_columns

if TYPE_CHECKING:
    import pyarrow as pa
from deploykit._errors import IntegrityError
from deploykit.models._rows import to_row, update_matched
from deploykit.models._schedule_views import replace_schedule_rows, split_views
from deploykit.schemas.base import INVALID_NAME_CHARS, ORMModel, validate_name
from deploykit.schemas.core import STORED_MODELS
from deploykit.schemas.states import StateType

__all__ = [
    "HELPER_COLUMNS",
    "LOAD_ORDER",
    "MAX_JSON_DEPTH",
    "Writer",
    "registered",
    "rows_frame",
    "stored_fields",
    "write_model",
]

HELPER_COLUMNS = ("work_pool_name", "_source")
"""Columns a batch may carry besides the table's own."""

LOAD_ORDER = ("work_pool", "work_queue", "flow", "deployment", "deployment_schedule", "flow_run", "task_run")
"""Parents before children, so each batch's references can be checked when it arrives."""

MAX_JSON_DEPTH = 254
"""Deepest nesting of a JSON value (objects and lists): what pydantic-core serializes."""

_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "work_queue": (("work_pool_id", "work_pool"),),
    "deployment": (("flow_id", "flow"), ("work_queue_id", "work_queue")),
    "deployment_schedule": (("deployment_id", "deployment"),),
    "flow_run": (("flow_id", "flow"),),
    "task_run": (("flow_run_id", "flow_run"),),
}
"""References checked batch by batch: the parent table is loaded first."""

_DEFERRED_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "work_pool": (("default_queue_id", "work_queue"),),
    "flow_run": (("parent_task_run_id", "task_run"),),
}
"""References to tables loaded later (cycles), checked once the write is complete."""

_FIXED_ON_UPDATE: dict[str, frozenset[str]] = {
    "work_pool": frozenset({"name"}),
    "work_queue": frozenset({"name", "work_pool_id"}),
}
"""Indexed columns of rows that foreign keys point at: DuckDB cannot update them in place."""

_ROW_LABEL = "CAST(s.id AS VARCHAR) || coalesce(' (' || s.name || ')', '')"
"""How error messages name a staged row: its id, and its name (an id may have been generated)."""


def _row_label(table: str) -> str:
    """:data:`_ROW_LABEL` for ``table`` (its id alone when the table has no ``name``)."""
    return _ROW_LABEL if "name" in STORED_MODELS[table].model_fields else "CAST(s.id AS VARCHAR)"


_UNIQUE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {}
"""Unique keys per table, read from the first store's catalog (``Writer._unique_keys``)."""
TABLE_OF: dict[type[ORMModel], str] = {model: table for table, model in STORED_MODELS.items()}
"""The store table of each stored schema."""
_PARSER_DEPTH = 128
"""Nesting below which pydantic parses JSON itself (its parser's recursion limit is lower
than ``MAX_JSON_DEPTH``); deeper texts are decoded by :mod:`json` first."""
_STATE_TYPES = ", ".join(f"'{s.value}'" for s in StateType)
_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"

Batch = Union[pl.DataFrame, "pa.Table"]
"""A batch of rows: a Polars frame, or an Arrow table (pyarrow is imported only by its users)."""


# --- rules derived from the schemas --------------------------------------------------------


@cache
def sql_defaults(table: str) -> dict[str, str]:
    """SQL literals of the static defaults the model gives the table's NOT NULL columns."""
    model = STORED_MODELS[table]
    defaults: dict[str, str] = {}
    for col in table_columns(table):
        field = model.model_fields.get(col.name)
        if field is None or col.nullable:
            continue
        if field.default_factory is list:
            defaults[col.name] = "[]::VARCHAR[]"
        elif field.default_factory is dict:
            defaults[col.name] = "'{}'"
        elif field.default is not PydanticUndefined and field.default is not None:
            value = field.default
            defaults[col.name] = (
                ("true" if value else "false") if isinstance(value, bool) else _literal(value)
            )
    return defaults


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@cache
def _optional(table: str) -> frozenset[str]:
    """Non-null columns a batch may leave out: defaults, ``id`` (generated), timestamps (now)."""
    return frozenset({*sql_defaults(table), "id", "created", "updated"})


@cache
def _named(table: str) -> bool:
    """Whether the table's ``name`` is a :data:`~deploykit.schemas.base.Name` (banned characters)."""
    field = STORED_MODELS[table].model_fields.get("name")
    return field is not None and any(getattr(m, "func", None) is validate_name for m in field.metadata)


@cache
def _state_columns(table: str) -> tuple[str, ...]:
    return tuple(
        name
        for name, field in STORED_MODELS[table].model_fields.items()
        if "StateType" in str(field.annotation)
    )


@cache
def _checked_fields(table: str) -> dict[str, tuple[TypeAdapter[Any], bool]]:
    """Fields whose values only the schema can judge: JSON fields and constrained numbers."""
    model = STORED_MODELS[table]
    columns = {c.name for c in table_columns(table)}
    checked: dict[str, tuple[TypeAdapter[Any], bool]] = {}
    for name, field in model.model_fields.items():
        if name not in columns:
            continue
        if name in model.json_fields:  # with its metadata: a schedule's discriminator, say
            annotated = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            checked[name] = (TypeAdapter(annotated), True)
        elif field.metadata and name != "name":
            checked[name] = (TypeAdapter(field.annotation), False)
    return checked


def json_depth(text: str) -> int:
    """How deep objects and lists nest in a JSON text (strings skipped).

    Examples
    --------
    >>> json_depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _shallow(text: str) -> bool:
    """Whether a JSON text surely nests less than ``_PARSER_DEPTH`` deep: it holds fewer
    brackets than that (counted in C, where :func:`json_depth` walks every character)."""
    return text.count("[") + text.count("{") < _PARSER_DEPTH


# --- frames ------------------------------------------------------------------------------


def _dtype(model: type[ORMModel], name: str) -> pl.DataType:
    """The Polars type a column of ``model`` has in the store's frames."""
    if name in model.json_fields:
        return pl.String()
    annotation = str(model.model_fields[name].annotation)
    if "list[str]" in annotation:
        return pl.List(pl.String)
    if "bool" in annotation:
        return pl.Boolean()
    if "datetime" in annotation.lower():
        return pl.Datetime("us", "UTC")
    if annotation in ("int | None", "int"):
        return pl.Int64()
    if annotation in ("float | None", "float"):
        return pl.Float64()
    return pl.String()


@cache
def stored_fields(model: type[ORMModel]) -> tuple[str, ...]:
    """The fields of ``model`` a batch of its table carries: its columns and helper columns
    (not views such as ``Deployment.schedule``, nor ``Deployment.schedules``, which has its own table)."""
    columns = {c.name for c in table_columns(TABLE_OF[model])} | set(HELPER_COLUMNS)
    return tuple(name for name in model.model_fields if name in columns)


def rows_frame(rows: Sequence[ORMModel], model: type[ORMModel]) -> pl.DataFrame:
    """Validated schema objects as a frame of store rows (ids as text, JSON fields as text).

    Examples
    --------
    >>> from deploykit.schemas.core import Flow
    >>> rows_frame([Flow(name="etl", tags=["a"])], Flow).select("name", "tags").rows()
    [('etl', ['a'])]
    """
    fields = stored_fields(model)
    schema = {name: _dtype(model, name) for name in fields}
    data = []
    for item in rows:
        if not isinstance(item, model):
            raise TypeError(f"expected {model.__name__} objects, got {type(item).__name__}")
        data.append({k: str(v) if isinstance(v, UUID) else v for k, v in to_row(item, fields).items()})
    return pl.DataFrame(data, schema=schema, orient="row") if data else pl.DataFrame(schema=schema)


def write_model(
    writer: Writer, item: ORMModel, *, source: str, stamp: datetime | None = None, **options: Any
) -> tuple[int, int]:
    """Write one schema object with ``writer`` (``created`` / ``updated`` set to ``stamp`` if given).

    The single-row ``create_*`` operations use this: one object takes the same checks
    and the same upsert as a batch of a million.
    """
    model = type(item)
    frame = rows_frame([item], model)
    if stamp is not None:
        frame = frame.with_columns(created=pl.lit(stamp), updated=pl.lit(stamp))
    return writer.write(TABLE_OF[model], frame, source=source, **options)


def _as_arrow(table: str, batch: Batch) -> pa.Table:
    """The batch as Arrow, JSON fields given as objects (a frame's structs, lists) turned to text."""
    if not isinstance(batch, pl.DataFrame):
        return batch
    json_fields = STORED_MODELS[table].json_fields
    objects = [c for c in batch.columns if c in json_fields and batch.schema[c] != pl.String]
    if objects:
        batch = batch.with_columns(
            pl.col(c).map_elements(_json_text, return_dtype=pl.String, skip_nulls=True) for c in objects
        )
    return batch.to_arrow()


def _json_text(value: Any) -> str:
    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value)


@contextmanager
def registered(cur: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[None]:
    """``data`` visible to SQL as ``name`` for the block.

    When the block fails, DuckDB has aborted the transaction and ``unregister`` would
    raise "Current transaction is aborted", hiding the cause: that second error is
    dropped so the block's own error surfaces.
    """
    cur.register(name, data)
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):
            cur.unregister(name)
        raise
    cur.unregister(name)


# --- the writer ---------------------------------------------------------------------------


class Writer:
    """Writes batches of rows into the store within the caller's transaction.

    Parameters
    ----------
    cur
        The cursor of an open ``store.transaction()``.
    invalid
        The error raised for values the rules refuse (the importers pass ``SourceError``).

    Examples
    --------
    >>> import deploykit as dk
    >>> store = dk.Store()
    >>> batch = pl.DataFrame({"id": ["2e8c375e-bd45-4928-a7e2-8ea40c549488"], "name": ["etl"]})
    >>> with store.transaction() as cur:
    ...     Writer(cur).write("flow", batch, source="mine")
    (1, 0)
    >>> with store.transaction() as cur:
    ...     Writer(cur).write("flow", batch.with_columns(name=pl.lit("a/b")), source="mine")
    Traceback (most recent call last):
    ...
    ValueError: mine: flow 2e8c375e-bd45-4928-a7e2-8ea40c549488: name a/b contains one of / % & > <
    """

    def __init__(self, cur: duckdb.DuckDBPyConnection, *, invalid: type[Exception] = ValueError):
        self.cur = cur
        self.invalid = invalid
        self._deferred: set[tuple[str, str]] = set()

    def write(
        self,
        table: str,
        batch: Batch,
        *,
        source: str,
        key: tuple[str, ...] = ("id",),
        update: Collection[str] | None = None,
        on_conflict: Literal["update", "skip", "error"] = "update",
    ) -> tuple[int, int]:
        """Validate ``batch`` (rows of ``table`` from ``source``) and write it; ``(inserted, updated)``.

        ``key`` matches batch rows to stored ones (``id`` by default; another key keeps
        the stored row's ``id``). ``update`` names the columns a matched row takes (all
        but the fixed ones when ``None``). With ``on_conflict="skip"``, rows whose id or
        unique key is already stored are skipped instead of updated or refused; with
        ``"error"``, they are an :class:`~deploykit.IntegrityError` naming the id or key.

        A batch of deployments may carry Prefect 2.10's ``schedule`` and
        ``is_schedule_active`` (columns before schema 4): ``is_schedule_active`` is written
        as ``paused``, ``schedule`` as each deployment's one active schedule (null: none)
        in ``deployment_schedule``.
        """
        inserted, updated, _ = self._write(
            table, batch, source=source, key=key, update=update, on_conflict=on_conflict, keep_same=False
        )
        return inserted, updated

    def write_changes(
        self, table: str, batch: Batch, *, source: str, ignore: Collection[str] = ()
    ) -> tuple[int, int, int]:
        """Upsert ``batch`` by id, leaving stored rows that are identical untouched:
        ``(inserted, updated, unchanged)``.

        What an incremental sync needs: a row read again with the same content is
        counted as unchanged and not written. Columns in ``ignore`` (values computed as
        of the read, such as estimates) do not make a row differ.
        """
        return self._write(
            table, batch, source=source, key=("id",), update=None, on_conflict="update", keep_same=ignore
        )

    def _write(
        self,
        table: str,
        batch: Batch,
        *,
        source: str,
        key: tuple[str, ...],
        update: Collection[str] | None,
        on_conflict: Literal["update", "skip", "error"],
        keep_same: Collection[str] | bool,
    ) -> tuple[int, int, int]:
        """:meth:`write` and :meth:`write_changes`: 2.10's schedule views of a deployment
        batch become ``deployment_schedule`` rows, the rest :meth:`_write_rows`."""
        key = {"update": key, "skip": (), "error": ("id",)}[on_conflict]
        arrow = _as_arrow(table, batch)
        if arrow.num_rows == 0:
            return 0, 0, 0
        schedules = None
        if table == "deployment" and {"schedule", "is_schedule_active"} & set(arrow.column_names):
            given = pl.from_arrow(arrow)
            if "is_schedule_active" in given.columns and "paused" not in given.columns:
                nulls = given.filter(pl.col("is_schedule_active").is_null())
                if nulls.height:  # named as the caller wrote it, not as the stored `paused`
                    row = nulls.row(0, named=True)
                    label = row.get("name") or row.get("id")
                    raise self.invalid(
                        f"{source}: deployment {label}: column is_schedule_active is null; "
                        "is_schedule_active cannot be null"
                    )
            frame, schedules = split_views(given)  # type: ignore[arg-type]
            arrow = frame.to_arrow()
            if update is not None and "is_schedule_active" in update:
                update = {*update, "paused"}
        written = self._write_rows(
            table, arrow, source=source, key=key, update=update, on_conflict=on_conflict, keep_same=keep_same
        )
        if schedules is not None:
            replace_schedule_rows(self.cur, schedules, source=source, only_new=on_conflict != "update")
        return written

    def _write_rows(
        self,
        table: str,
        arrow: pa.Table,
        *,
        source: str,
        key: tuple[str, ...],
        update: Collection[str] | None,
        on_conflict: Literal["update", "skip", "error"],
        keep_same: Collection[str] | bool,
    ) -> tuple[int, int, int]:
        """Validate and write a batch of the table's own columns (and the helpers)."""
        columns = table_columns(table)
        given = set(arrow.column_names)
        unknown = sorted(given - {c.name for c in columns} - set(HELPER_COLUMNS))
        if unknown:
            raise self.invalid(f"{source}: unknown {table} columns: {', '.join(unknown)}")
        required = {c.name for c in columns if not c.nullable} - (_optional(table) - set(key))
        missing = sorted(required - given)
        if missing:
            raise self.invalid(f"{source}: {table} rows lack the column(s) {', '.join(missing)}")
        with registered(self.cur, "_dk_src", arrow):
            self._check_values(table, columns, given, key, source)
            if key and arrow.num_rows > 1:
                self._check_duplicates(table, given, key, source)
            self._stage(table, columns, given)
        try:
            if key not in ((), ("id",)):
                self._resolve_ids(table, key, source)
            if on_conflict == "error":
                self._check_new_ids(table, source)
            self._check_staged(table, source, check_unique=on_conflict != "skip", one=arrow.num_rows == 1)
            if on_conflict != "update":
                written = self._insert_new(table, columns), 0, 0
            else:
                written = self._upsert(table, columns, key, update, keep_same=keep_same)
        except duckdb.ConstraintException as exc:
            raise IntegrityError(f"{source}: {table}: {exc}") from None
        finally:
            with suppress(duckdb.TransactionException):
                self.cur.execute("DROP TABLE IF EXISTS _dk_stage")
        self._deferred.update((table, col) for col, _ in _DEFERRED_REFERENCES.get(table, ()))
        return written

    def finish(self, source: str) -> None:
        """Check the references that could only be checked once every table was written."""
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
                    f"existing {parent} (neither in the store nor in this write)"
                )

    # -- steps ---------------------------------------------------------------------------

    def _first(self, query: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.cur.execute(query, params).fetchall()
        return rows[0] if rows else None

    def _check_values(
        self, table: str, columns: tuple[Column, ...], given: set[str], key: tuple[str, ...], source: str
    ) -> None:
        """Unreadable or out-of-range values, nulls in required columns, bad state types and names."""
        where = "COALESCE(_source, $src)" if "_source" in given else "$src"
        named = (("id", "CAST(id AS VARCHAR)"), ("name", "name"))
        labels = [expr for column, expr in named if column in given]
        row = f"COALESCE({', '.join(labels)})" if labels else "NULL::VARCHAR"
        json_fields = STORED_MODELS[table].json_fields
        checks = []
        for col in columns:
            if col.name not in given:
                continue
            name = col.name
            if col.type not in ("VARCHAR", "VARCHAR[]"):
                checks.append(
                    (
                        f"'column {name}: cannot read ' || CAST({name} AS VARCHAR) || ' as {col.type}'",
                        f"{name} IS NOT NULL AND TRY_CAST({name} AS {col.type}) IS NULL",
                    )
                )
            if col.type == _TIMESTAMP:
                value = f"TRY_CAST({name} AS {_TIMESTAMP})"
                checks.append(
                    (
                        f"'column {name}: ' || CAST({name} AS VARCHAR) || "
                        "' is out of range (finite times in years 1 to 9999)'",
                        f"NOT isfinite({value}) OR year({value}) NOT BETWEEN 1 AND 9999",
                    )
                )
            if name in json_fields:
                checks.append(
                    (
                        f"'column {name}: invalid JSON ' || left({name}, 80)",
                        f"{name} IS NOT NULL AND NOT json_valid({name})",
                    )
                )
            if not col.nullable and (name not in ("id", "created", "updated") or name in key):
                checks.append((f"'column {name} is null; {name} cannot be null'", f"{name} IS NULL"))
        checks += [
            (f"'unknown state type ' || {c}", f"{c} NOT IN ({_STATE_TYPES})")
            for c in _state_columns(table)
            if c in given
        ]
        if _named(table) and "name" in given:
            checks.append(
                (
                    "'name ' || name || ' contains one of / % & > <'",
                    f"name = '' OR regexp_matches(name, '{INVALID_NAME_CHARS.pattern}')",
                )
            )
        if not checks:
            return
        union = " UNION ALL ".join(
            f"SELECT {row}, {where}, {problem} FROM _dk_src WHERE {condition}"
            for problem, condition in checks
        )
        found = self._first(f"{union} LIMIT 1", {"src": source})
        if found:
            row_id, src, problem = found
            raise self.invalid(f"{src}: {table} {row_id or '(no id)'}: {problem}")

    def _check_duplicates(self, table: str, given: set[str], key: tuple[str, ...], source: str) -> None:
        """A key twice in one batch: fine for an id with identical content, else an error."""
        cols = ", ".join(sorted(given - {"_source"}))
        rows_of = f"(SELECT DISTINCT {cols} FROM _dk_src)" if key == ("id",) else "_dk_src"
        label = ", ".join(f"CAST({k} AS VARCHAR)" for k in key)
        found = self._first(
            f"SELECT concat_ws(' ', {label}), count(*) FROM {rows_of} "
            f"GROUP BY {', '.join(key)} HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
        )
        if found:
            times = "twice" if found[1] == 2 else f"{found[1]} times"
            if key == ("id",):
                raise self.invalid(f"{source}: {table} {found[0]} appears {times} with different content")
            raise IntegrityError(f"{source}: {table} ({', '.join(key)}) = {found[0]} appears {times}")

    def _stage(self, table: str, columns: tuple[Column, ...], given: set[str]) -> None:
        """Cast, fill defaults and ids, de-duplicate and resolve queue names into ``_dk_stage``."""
        defaults = sql_defaults(table)
        selects = []
        for col in columns:
            value = f"CAST({col.name} AS {col.type})" if col.name in given else "NULL"
            if col.name in defaults:
                value = f"COALESCE({value}, {defaults[col.name]})"
            elif col.name == "id":
                value = f"COALESCE({value}, uuid())"
            elif col.name == "created":
                value = f"COALESCE({value}, now())"
            elif col.name == "updated":
                created = f"CAST(created AS {_TIMESTAMP})" if "created" in given else "NULL"
                value = f"COALESCE({value}, {created}, now())"
            selects.append(f"{value}::{col.type} AS {col.name}")
        pool = "work_pool_name" if "work_pool_name" in given else "NULL::VARCHAR"
        queues = table in ("deployment", "flow_run")
        if queues:
            selects.append(f"{pool} AS work_pool_name")
        self.cur.execute(
            f"CREATE OR REPLACE TEMP TABLE _dk_stage AS SELECT DISTINCT {', '.join(selects)} FROM _dk_src"
        )
        if queues and "work_pool_name" in given:
            self.cur.execute(
                "UPDATE _dk_stage s SET work_queue_id = q.id FROM work_queue q "
                "JOIN work_pool p ON p.id = q.work_pool_id "
                "WHERE s.work_queue_id IS NULL AND s.work_pool_name = p.name "
                "AND s.work_queue_name = q.name"
            )

    def _resolve_ids(self, table: str, key: tuple[str, ...], source: str) -> None:
        """Rows matching a stored row on ``key`` take its id; another row's id is refused."""
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        self.cur.execute(f"UPDATE _dk_stage s SET id = t.id FROM {table} t WHERE {on}")
        label = ", ".join(f"CAST(t.{k} AS VARCHAR)" for k in key)
        found = self._first(
            f"SELECT {_row_label(table)}, concat_ws(' ', {label}) "
            f"FROM _dk_stage s JOIN {table} t ON t.id = s.id WHERE NOT ({on}) ORDER BY 1 LIMIT 1"
        )
        if found:
            raise IntegrityError(
                f"{source}: {table} {found[0]}: its id is already used by another {table} "
                f"(({', '.join(key)}) = {found[1]})"
            )

    def _check_new_ids(self, table: str, source: str) -> None:
        """Rows to insert must not reuse a stored id."""
        found = self._first(
            f"SELECT {_row_label(table)}, CAST(s.id AS VARCHAR) FROM _dk_stage s "
            f"JOIN {table} t ON t.id = s.id ORDER BY 1 LIMIT 1"
        )
        if found:
            raise IntegrityError(
                f"{source}: {table} {found[0]}: id {found[1]} is already used by another {table}"
            )

    def _check_staged(self, table: str, source: str, *, check_unique: bool, one: bool) -> None:
        """References, unique keys, pool/queue renames and the schema's field rules."""
        if table == "deployment":
            found = self._first(
                "SELECT CAST(id AS VARCHAR), work_pool_name, work_queue_name FROM _dk_stage "
                "WHERE work_queue_id IS NULL AND work_pool_name IS NOT NULL "
                "AND work_queue_name IS NOT NULL ORDER BY 1 LIMIT 1"
            )
            if found:
                raise IntegrityError(
                    f"{source}: deployment {found[0]}: work pool {found[1]!r} has no work queue "
                    f"{found[2]!r} (neither in the store nor in this write)"
                )
        for column, parent in _REFERENCES.get(table, ()):
            found = self._first(
                f"SELECT {_row_label(table)}, CAST(s.{column} AS VARCHAR) FROM _dk_stage s "
                f"WHERE s.{column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = s.{column}) "
                "ORDER BY 1 LIMIT 1"
            )
            if found:
                raise IntegrityError(
                    f"{source}: {table} {found[0]}: {column} {found[1]} does not refer to an "
                    f"existing {parent} (neither in the store nor in this write)"
                )
        if check_unique:
            for key in self._unique_keys(table):
                self._check_unique(table, key, source, one=one)
        for column in sorted(_FIXED_ON_UPDATE.get(table, frozenset())):
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
        self._check_fields(table, source)

    def _unique_keys(self, table: str) -> tuple[tuple[str, ...], ...]:
        """The table's UNIQUE constraints, as DuckDB's catalog holds them (read once per process:
        every store has the same DDL)."""
        if table not in _UNIQUE_KEYS:
            rows = self.cur.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = $t AND constraint_type = 'UNIQUE' ORDER BY constraint_index",
                {"t": table},
            ).fetchall()
            _UNIQUE_KEYS[table] = tuple(tuple(names) for (names,) in rows)
        return _UNIQUE_KEYS[table]

    def _check_unique(self, table: str, key: tuple[str, ...], source: str, *, one: bool) -> None:
        """No two rows (in the batch, or batch vs store) share a unique key under different ids."""
        on = " AND ".join(f"a.{k} = b.{k}" for k in key)
        label = ", ".join(key)
        packed = f"CAST(struct_pack({', '.join(f'a.{k}' for k in key)}) AS VARCHAR)"
        found = None
        if not one:
            found = self._first(
                f"SELECT CAST(a.id AS VARCHAR), CAST(b.id AS VARCHAR), {packed} "
                f"FROM _dk_stage a JOIN _dk_stage b ON {on} AND a.id < b.id ORDER BY 1 LIMIT 1"
            )
        where = "in this import"
        if not found:
            found = self._first(
                f"SELECT CAST(a.id AS VARCHAR), CAST(b.id AS VARCHAR), {packed} "
                f"FROM _dk_stage a JOIN {table} b ON {on} AND a.id <> b.id "
                "WHERE b.id NOT IN (SELECT id FROM _dk_stage) ORDER BY 1 LIMIT 1"
            )
            where = "in the store"
        if found:
            raise IntegrityError(
                f"{source}: {table} {found[0]}: ({label}) = {found[2]} is already used by "
                f"{table} {found[1]} {where}"
            )

    def _check_fields(self, table: str, source: str) -> None:
        """Each distinct value of a JSON or constrained field, validated by the schema."""
        for name, (adapter, is_json) in _checked_fields(table).items():
            values = self.cur.execute(
                f"SELECT {name}, any_value(CAST(id AS VARCHAR)) FROM _dk_stage "
                f"WHERE {name} IS NOT NULL GROUP BY {name}"
            ).fetchall()
            for value, row_id in values:
                problem = None
                depth = json_depth(value) if is_json and not _shallow(value) else 0
                if depth > MAX_JSON_DEPTH:
                    problem = f"nesting depth exceeded (at most {MAX_JSON_DEPTH} levels)"
                else:
                    try:
                        if is_json and depth < _PARSER_DEPTH:
                            adapter.validate_json(value)
                        else:  # pydantic's JSON parser stops short of MAX_JSON_DEPTH
                            adapter.validate_python(json.loads(value) if is_json else value)
                    except ValidationError as exc:
                        first = exc.errors()[0]
                        where = ".".join(str(p) for p in first["loc"])
                        problem = f"{where + ': ' if where else ''}{first['msg']}"
                if problem is not None:
                    shown = value[:80] if isinstance(value, str) else value
                    raise self.invalid(f"{source}: {table} {row_id}: {name} {shown!r} is invalid: {problem}")

    def _upsert(
        self,
        table: str,
        columns: tuple[Column, ...],
        key: tuple[str, ...],
        update: Collection[str] | None,
        *,
        keep_same: Collection[str] | bool,
    ) -> tuple[int, int, int]:
        """Update the staged rows that exist, insert the others; ``(inserted, updated, unchanged)``.

        Unless ``keep_same`` is ``False``, staged rows equal to their stored row on every
        updated column (but the ones ``keep_same`` names) are dropped first (counted as
        unchanged, never written)."""
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        fixed = _FIXED_ON_UPDATE.get(table, frozenset()) | {"id", *key}
        names = [c.name for c in columns]
        updated = [c for c in names if c not in fixed and (update is None or c in update)]
        same = 0
        if keep_same is not False:
            compared = [c for c in updated if keep_same is True or c not in keep_same]
            equal = " AND ".join(f"t.{c} IS NOT DISTINCT FROM s.{c}" for c in compared) or "true"
            same = self.cur.execute(
                f"DELETE FROM _dk_stage AS s USING {table} AS t WHERE {on} AND {equal}"
            ).fetchall()[0][0]
        existing = update_matched(self.cur, table, "_dk_stage", on, updated)
        inserted = self.cur.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(f's.{c}' for c in names)} "
            f"FROM _dk_stage AS s ANTI JOIN {table} AS t ON {on}"
        )
        return inserted.fetchall()[0][0], existing, same

    def _insert_new(self, table: str, columns: tuple[Column, ...]) -> int:
        """Insert the staged rows whose id and unique keys are not stored yet; how many."""
        names = [c.name for c in columns]
        clashes = [("id",), *self._unique_keys(table)]
        where = " AND ".join(
            f"NOT EXISTS (SELECT 1 FROM {table} t WHERE {' AND '.join(f't.{k} = s.{k}' for k in k_)})"
            for k_ in clashes
        )
        inserted = self.cur.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(f's.{c}' for c in names)} "
            f"FROM _dk_stage AS s WHERE {where}"
        )
        return inserted.fetchall()[0][0]
