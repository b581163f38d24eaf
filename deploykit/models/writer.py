"""The one writer: every row the models and the importers insert or upsert goes through :class:`Writer`.

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

Two more ways in, with the same rules: :meth:`Writer.write_row` (and
:meth:`Writer.update_row`) for the single-row ``create_*`` / ``update_*`` operations, which
check one row in Python and by a few index lookups instead of staging it (a batch costs a
dozen statements whatever its size; a row costs three to five this way), and
:meth:`Writer.insert_select` for rows made by a query (scheduled runs), set-based, completed
with the defaults and skipping stored unique keys. ``tests/test_writer_row_path.py`` proves
the one-row path stores and refuses exactly what the staged path does.

The rules come from the schemas (``deploykit.schemas``: banned name characters, state
types, defaults, field constraints) and the store's catalog (columns, types, nullability,
unique keys); nothing restates them. Any failure raises the writer's ``invalid`` error
(:class:`ValueError` by default; the importers pass their ``SourceError``) or
:class:`~deploykit.IntegrityError`, naming the source, the table, the row and the field;
the caller's transaction then rolls back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, Union
from uuid import UUID, uuid4

import duckdb
import polars as pl
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from deploykit.store import Column, rewritten_columns, table_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from deploykit.schemas.core import DeploymentSchedule
from deploykit._errors import IntegrityError
from deploykit.models import _rollups
from deploykit.models._rows import insert_sql, to_row, update_matched, update_sql
from deploykit.models._schedule_views import replace_schedule_rows, split_views
from deploykit.schemas.base import INVALID_NAME_CHARS, ORMModel, utc_now, validate_name
from deploykit.schemas.core import STORED_MODELS
from deploykit.schemas.states import StateType

__all__ = [
    "HELPER_COLUMNS",
    "LOAD_ORDER",
    "MAX_JSON_DEPTH",
    "Writer",
    "Written",
    "model_row",
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
_STATE_VALUES = frozenset(s.value for s in StateType)
_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"

Batch = Union[pl.DataFrame, "pa.Table"]
"""A batch of rows: a Polars frame, or an Arrow table (pyarrow is imported only by its users)."""


# --- rules derived from the schemas --------------------------------------------------------


@cache
def defaults(table: str) -> dict[str, Any]:
    """The static defaults the model gives the table's NOT NULL columns, as store values."""
    model = STORED_MODELS[table]
    found: dict[str, Any] = {}
    for col in table_columns(table):
        field = model.model_fields.get(col.name)
        if field is None or col.nullable:
            continue
        if field.default_factory is list:
            found[col.name] = []
        elif field.default_factory is dict:
            found[col.name] = "{}"
        elif field.default is not PydanticUndefined and field.default is not None:
            value = field.default
            found[col.name] = value if isinstance(value, int) else str(value)
    return found


@cache
def sql_defaults(table: str) -> dict[str, str]:
    """SQL literals of :func:`defaults`."""
    return {name: _literal(value) for name, value in defaults(table).items()}


def _literal(value: Any) -> str:
    if isinstance(value, list):  # the only list default is the empty list of tags
        return "[]::VARCHAR[]"
    if isinstance(value, bool):
        return "true" if value else "false"
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
def _checked_types(table: str) -> dict[str, tuple[Any, bool]]:
    """Fields whose values only the schema can judge, JSON fields and constrained numbers:
    the type their values must have, and whether they are JSON texts."""
    model = STORED_MODELS[table]
    columns = {c.name for c in table_columns(table)}
    checked: dict[str, tuple[Any, bool]] = {}
    for name, field in model.model_fields.items():
        if name not in columns:
            continue
        if name in model.json_fields:  # with its metadata: a schedule's discriminator, say
            annotated = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            checked[name] = (annotated, True)
        elif field.metadata and name != "name":
            checked[name] = (field.annotation, False)
    return checked


@cache
def _checked_fields(table: str) -> dict[str, tuple[TypeAdapter[Any], bool]]:
    """:func:`_checked_types` as validators."""
    return {name: (TypeAdapter(kind), is_json) for name, (kind, is_json) in _checked_types(table).items()}


@cache
def _list_adapter(table: str, name: str) -> TypeAdapter[list[Any]]:
    """A validator of JSON lists of values of the checked field ``name``."""
    return TypeAdapter(list[_checked_types(table)[name][0]])  # type: ignore[index]


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


_BULK_DEPTH = _PARSER_DEPTH - 8
"""Brackets below which a JSON text is checked within one list of many (a level deeper)."""
_BULK_TEXT = 4096
"""Longest JSON text checked within a list of many (a list of long texts would hold much
memory at once: those are checked one by one)."""


def _valid_list(table: str, name: str, text: str, count: int) -> bool:
    """Whether the JSON list ``text`` holds ``count`` values of field ``name``, each valid."""
    try:
        return len(_list_adapter(table, name).validate_json(text)) == count
    except ValidationError:
        return False


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
) -> Written:
    """Write one schema object with ``writer`` (``created`` / ``updated`` set to ``stamp`` if given).

    The single-row ``create_*`` operations use this: one object takes the rules of a
    batch of a million, through :meth:`Writer.write_row` (no staging for one row).
    ``options`` are :meth:`Writer.write_row`'s.
    """
    return writer.write_row(TABLE_OF[type(item)], model_row(item, stamp), source=source, **options)


def model_row(item: ORMModel, stamp: datetime | None = None) -> dict[str, Any]:
    """The store row of a schema object (its table's columns and helper columns), stamped if asked."""
    model = type(item)
    if model not in TABLE_OF:
        raise TypeError(f"expected a stored schema object, got {model.__name__}")
    row = to_row(item, stored_fields(model))
    if stamp is not None:
        row["created"] = row["updated"] = stamp
    return row


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
    return batch.to_arrow(compat_level=pl.CompatLevel.newest())  # string views: no copy


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
        self._written: set[tuple[str, Any]] = set()
        self._staged: tuple[str, str] = ("TABLE", "")
        """What ``_dk_stage`` is for the batch being written: ``(VIEW or TABLE, its query)``."""

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
        inserted, updated, _ = self._write(table, batch, source, _Mode.of(key, update, on_conflict))
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
        return self._write(table, batch, source, _Mode.of(("id",), None, "update", keep_same=ignore))

    # -- one row -------------------------------------------------------------------------

    def write_row(
        self,
        table: str,
        row: Mapping[str, Any],
        *,
        source: str,
        key: tuple[str, ...] = ("id",),
        update: Collection[str] | None = None,
        on_conflict: Literal["update", "skip", "error"] = "update",
        returning: bool = False,
    ) -> Written:
        """:meth:`write` for one row of typed store values (what ``to_row`` makes of a schema object).

        The same rules in the same order, with the same messages, checked without
        staging: the values in Python, then a few index lookups (the stored row on
        ``key`` or on the id, each reference, each other unique key), then one
        ``INSERT`` or ``UPDATE`` (list, key and indexed columns set only where they
        differ, as :func:`update_matched` does). A batch costs a dozen statements
        whatever its size; one row costs three to five this way. With ``returning``,
        :attr:`Written.row` is the row as stored (every column), without reading it back
        after an insert.
        """
        mode = _Mode.of(key, update, on_conflict)
        columns = table_columns(table)
        self._check_columns(table, columns, set(row), source, required=mode.key)
        self._check_row(table, columns, row, mode.key, source)
        new = self._filled(table, columns, row)
        stored = self._stored_for(table, new, mode, source)
        clash = self._check_row_refs(table, new, stored, mode, source)
        for name in _checked_fields(table):
            if new.get(name) is not None:
                self._check_field(table, name, new[name], new["id"], source)
        new.pop("work_pool_name", None)
        self._touching(table, new, stored)
        try:
            if clash:
                written = Written(0, 0, None)
            elif stored is None:
                self.cur.execute(_sql(table).insert, new)
                written = Written(1, 0, new if returning else None)
            else:
                names = [c.name for c in columns]
                fixed = _FIXED_ON_UPDATE.get(table, frozenset()) | {"id", *mode.key}
                sets = [c for c in names if c not in fixed and (mode.update is None or c in mode.update)]
                written = Written(0, 1, self._update_stored(table, new, stored, sets, returning=returning))
        except duckdb.ConstraintException as exc:
            raise IntegrityError(f"{source}: {table}: {exc}") from None
        self._deferred.update((table, col) for col, _ in _DEFERRED_REFERENCES.get(table, ()))
        if written.inserted or written.updated:
            self._written.add((table, new["id"]))
        self._touched(table)
        return written

    def update_row(self, table: str, row: Mapping[str, Any], *, source: str) -> bool:
        """Write the columns ``row`` gives to the stored row ``row["id"]``; False when there is none.

        The checks of :meth:`write_row` for an update (values, references, unique keys,
        fixed columns, the schema's field rules) on the columns given; the others keep
        their stored values.
        """
        columns = table_columns(table)
        self._check_columns(table, columns, set(row), source, required=None)
        self._check_row(table, columns, row, ("id",), source)
        stored = self._stored_by(table, "id", row["id"])
        if not stored:
            return False
        new = stored[0] | dict(row)
        mode = _Mode.of(("id",), None, "update")
        self._check_row_refs(table, new, stored[0], mode, source, changed=set(row))
        for name in _checked_fields(table):
            if row.get(name) is not None:
                self._check_field(table, name, row[name], row["id"], source)
        self._touching(table, new, stored[0])
        try:
            self._update_stored(table, new, stored[0], [c for c in row if c != "id"], returning=False)
        except duckdb.ConstraintException as exc:
            raise IntegrityError(f"{source}: {table}: {exc}") from None
        self._touched(table)
        return True

    def _touching(self, table: str, new: Mapping[str, Any], stored: Mapping[str, Any] | None) -> None:
        """Before a one-row write of a flow run: its deployment as stored and as written are
        stale in the run-history rollups (``_rollups``)."""
        if table == "flow_run":
            if stored is not None:
                _rollups.mark_query(
                    self.cur, "SELECT deployment_id FROM flow_run WHERE id = $id", {"id": stored["id"]}
                )
            _rollups.mark_ids(self.cur, [new.get("deployment_id")])

    def _touched(self, table: str) -> None:
        """After a one-row write of a flow run: recompute the rollups if many are stale."""
        if table == "flow_run":
            _rollups.settle(self.cur)

    def write_schedules(
        self,
        deployment_id: UUID,
        schedules: Sequence[DeploymentSchedule],
        *,
        stamp: datetime,
        source: str,
        replace: bool = True,
    ) -> list[DeploymentSchedule]:
        """The deployment's schedules become ``schedules`` (``replace=False``: a deployment just
        inserted, which has none yet), one-row writes; return them as stored.

        ``created`` grows by a microsecond per schedule, so that reads give them back in
        the order given.
        """
        if replace:
            self.cur.execute(
                "DELETE FROM deployment_schedule WHERE deployment_id = $id", {"id": deployment_id}
            )
        step = timedelta(microseconds=1)
        rows = [
            s.model_copy(
                update={"deployment_id": deployment_id, "created": stamp + i * step, "updated": stamp}
            )
            for i, s in enumerate(schedules)
        ]
        for row in rows:
            write_model(self, row, source=source)
        return rows

    # -- set-based inserts ---------------------------------------------------------------

    def insert_select(
        self,
        table: str,
        values: Mapping[str, str],
        rows: str,
        params: dict[str, Any],
        *,
        source: str,
        where: str | None = None,
        skip_stored: bool = True,
        order_by: str | None = None,
        returning: str = "id",
        as_frame: bool = False,
    ) -> list[tuple[Any, ...]] | pl.DataFrame:
        """Insert the rows one query makes, in one statement; the rows of its ``RETURNING``
        (``as_frame``: as a Polars frame, for the many rows of a fleet).

        ``values`` maps columns to SQL expressions over the FROM clause ``rows`` (bound
        ``params``; trusted, code-defined SQL), ``where`` filters them. As for a batch, the
        writer completes each row: columns not named take the schema's defaults, a new
        ``id`` and the time of the transaction; an unknown column, or a required one
        neither named nor defaulted, is refused. With ``skip_stored``, rows whose unique
        key (from the catalog) is already stored are skipped by an anti-join (the caller
        that probed them with :meth:`stored_keys` passes ``False``). A constraint failing
        is an :class:`~deploykit.IntegrityError` naming ``source``.
        """
        columns = table_columns(table)
        self._check_columns(table, columns, set(values), source, required=())
        literals = sql_defaults(table) | {"id": "uuid()", "created": "now()", "updated": "now()"}
        exprs = {c.name: values.get(c.name, literals.get(c.name)) for c in columns}
        exprs = {name: expr for name, expr in exprs.items() if expr is not None}
        conditions = [where] if where else []
        if skip_stored:
            for unique in self._unique_keys(table):
                if all(k in values for k in unique):
                    match = " AND ".join(f"t.{k} = {values[k]}" for k in unique)
                    conditions.append(f"NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match})")
        query = (
            f"INSERT INTO {table} ({', '.join(exprs)}) SELECT {', '.join(exprs.values())} FROM {rows}"
            + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
            + (f" ORDER BY {order_by}" if order_by else "")
            + f" RETURNING {returning}"
        )
        if table == "flow_run" and "deployment_id" in values:
            _rollups.mark_query(self.cur, f"SELECT {values['deployment_id']} FROM {rows}", params)
        try:
            result = (
                self.cur.sql(query, params=params).pl()
                if as_frame
                else self.cur.execute(query, params).fetchall()
            )
        except duckdb.ConstraintException as exc:
            raise IntegrityError(f"{source}: a {table} row breaks a store constraint: {exc}") from None
        if table == "flow_run":
            _rollups.settle(self.cur)
        return result

    def stored_keys(
        self, table: str, fixed: Mapping[str, Any], column: str, candidates: Sequence[Any]
    ) -> set[Any]:
        """Which ``candidates`` of ``column`` are stored with the ``fixed`` values, where
        ``(*fixed, column)`` is a unique key of the table: one probe of its index (an IN list)."""
        if set(fixed) | {column} not in [set(key) for key in self._unique_keys(table)]:
            raise ValueError(f"({', '.join([*fixed, column])}) is no unique key of {table}")
        if not candidates:
            return set()
        marks = ", ".join(f"$_c{i}" for i in range(len(candidates)))
        match = " AND ".join(f"{k} = ${k}" for k in fixed)
        query = f"SELECT {column} FROM {table} WHERE {match} AND {column} IN ({marks})"
        params = dict(fixed) | {f"_c{i}": value for i, value in enumerate(candidates)}
        return {row[0] for row in self.cur.execute(query, params).fetchall()}

    def _check_row(
        self,
        table: str,
        columns: tuple[Column, ...],
        row: Mapping[str, Any],
        key: tuple[str, ...],
        source: str,
    ) -> None:
        """:meth:`_check_values` for one row of typed values: integers in range, valid JSON,
        required values, state types and names."""
        label = next((str(row[c]) for c in ("id", "name") if row.get(c) is not None), "(no id)")
        json_fields = STORED_MODELS[table].json_fields
        for col in columns:
            if col.name not in row:
                continue
            name, value = col.name, row[col.name]
            problem = None
            if col.type == "INTEGER" and isinstance(value, int) and not -(2**31) <= value < 2**31:
                problem = f"column {name}: cannot read {value} as INTEGER"
            elif name in json_fields and value is not None and not self._json_valid(value):
                problem = f"column {name}: invalid JSON {value[:80]}"
            elif (
                value is None
                and not col.nullable
                and (name not in ("id", "created", "updated") or name in key)
            ):
                problem = f"column {name} is null; {name} cannot be null"
            if problem:
                raise self.invalid(f"{source}: {table} {label}: {problem}")
        for name in _state_columns(table):
            if row.get(name) is not None and row[name] not in _STATE_VALUES:
                raise self.invalid(f"{source}: {table} {label}: unknown state type {row[name]}")
        name = row.get("name")
        if _named(table) and name is not None and (name == "" or INVALID_NAME_CHARS.search(name)):
            raise self.invalid(f"{source}: {table} {label}: name {name} contains one of / % & > <")

    def _json_valid(self, text: str) -> bool:
        """Whether DuckDB's ``json_valid`` accepts ``text`` (which also takes NaN and trailing
        commas but no lone surrogate): asked of DuckDB only when Python's parser disagrees
        or could."""
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            if "\\ud" not in text.lower():
                return True
        return bool(self.cur.execute("SELECT json_valid($t)", {"t": text}).fetchall()[0][0])

    def _filled(self, table: str, columns: tuple[Column, ...], row: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`_stage` for one row: defaults, a new id, timestamps, a queue named by pool + name."""
        filled = defaults(table)
        now = utc_now()
        new = {c.name: row.get(c.name) for c in columns}
        for name, value in filled.items():
            if new[name] is None:
                new[name] = list(value) if isinstance(value, list) else value
        new["id"] = new["id"] or uuid4()
        new["updated"] = new["updated"] or new["created"] or now
        new["created"] = new["created"] or now
        if table in ("deployment", "flow_run"):
            pool, queue = row.get("work_pool_name"), new["work_queue_name"]
            new["work_pool_name"] = pool
            if new["work_queue_id"] is None and pool is not None and queue is not None:
                found = self.cur.execute(_QUEUE_IN_POOL, {"pool": pool, "queue": queue}).fetchall()
                new["work_queue_id"] = found[0][0] if found else None
        return new

    def _stored_for(self, table: str, new: dict[str, Any], mode: _Mode, source: str) -> dict[str, Any] | None:
        """:meth:`_resolve_ids` and :meth:`_check_new_ids` for one row: the stored row it
        matches (its id taken), or ``None``."""
        label = _label(table, new)
        if mode.key in ((), ("id",)):
            by_id = self._stored_by(table, "id", new["id"])
            if by_id and mode.on_conflict == "error":
                raise IntegrityError(
                    f"{source}: {table} {label}: id {new['id']} is already used by another {table}"
                )
            return by_id[0] if by_id else None
        values = {k: new[k] for k in mode.key}
        matched = self._stored_on(table, values)
        if matched:
            new["id"] = matched[0]["id"]
            return matched[0]
        by_id = self._stored_by(table, "id", new["id"])
        if by_id:
            other = " ".join(str(by_id[0][k]) for k in mode.key if by_id[0][k] is not None)
            raise IntegrityError(
                f"{source}: {table} {label}: its id is already used by another {table} "
                f"(({', '.join(mode.key)}) = {other})"
            )
        return None

    def _check_row_refs(
        self,
        table: str,
        new: dict[str, Any],
        stored: dict[str, Any] | None,
        mode: _Mode,
        source: str,
        *,
        changed: Collection[str] | None = None,
    ) -> bool:
        """:meth:`_check_staged` for one row (but the fields); whether the row clashes with a
        stored one (only with ``on_conflict="skip"``, which skips it). With ``changed`` (an
        update of those columns), only the rules those columns take part in."""
        label = _label(table, new)

        def checked(columns: Collection[str]) -> bool:
            return changed is None or any(c in changed for c in columns)

        pool, queue = new.get("work_pool_name"), new.get("work_queue_name")
        if table == "deployment" and new["work_queue_id"] is None and pool is not None and queue is not None:
            raise IntegrityError(
                f"{source}: deployment {new['id']}: work pool {pool!r} has no work queue "
                f"{queue!r} (neither in the store nor in this write)"
            )
        for column, parent in _REFERENCES.get(table, ()):
            value = new[column]
            if (
                value is None
                or not checked([column])
                or (parent, value) in self._written
                or self._stored_by(parent, "id", value, "1")
            ):
                continue
            raise IntegrityError(
                f"{source}: {table} {label}: {column} {value} does not refer to an "
                f"existing {parent} (neither in the store nor in this write)"
            )
        clash = stored is not None and mode.on_conflict == "skip"
        for unique in self._unique_keys(table):
            values = {k: new[k] for k in unique}
            if unique == mode.key or any(v is None for v in values.values()) or not checked(unique):
                continue  # the key was resolved above; a null never clashes
            others = [r for r in self._stored_on(table, values) if r["id"] != new["id"]]
            if others and mode.on_conflict == "skip":
                clash = True
            elif others:
                params = {k: v for k, v in values.items()}
                packed = ", ".join(f"{k} := ${k}::{_column_type(table, k)}" for k in unique)
                text = self.cur.execute(f"SELECT CAST(struct_pack({packed}) AS VARCHAR)", params).fetchall()
                raise IntegrityError(
                    f"{source}: {table} {new['id']}: ({', '.join(unique)}) = {text[0][0]} is already used by "
                    f"{table} {others[0]['id']} in the store"
                )
        for column in sorted(_FIXED_ON_UPDATE.get(table, frozenset())) if stored else ():
            if checked([column]) and stored[column] != new[column]:  # type: ignore[index]
                was, now = (None if v is None else str(v) for v in (stored[column], new[column]))  # type: ignore[index]
                raise IntegrityError(
                    f"{source}: {table} {new['id']}: {column} changes from {was!r} to "
                    f"{now!r}; an import cannot rename or move an existing {table}"
                )
        return clash

    def _update_stored(
        self,
        table: str,
        new: dict[str, Any],
        stored: dict[str, Any],
        columns: Sequence[str],
        *,
        returning: bool,
    ) -> dict[str, Any] | None:
        """Set ``columns`` of the stored row to ``new``'s values (list, key and indexed
        columns only where they differ); the row as stored with ``returning``."""
        rewritten = rewritten_columns(table)
        sets = tuple(c for c in columns if c not in rewritten or stored[c] != new[c])
        shape = _sql(table)
        if not sets:
            if not returning:
                return None
            result = self.cur.execute(shape.select_row, {"id": new["id"]})
        else:
            result = self.cur.execute(shape.update(sets, returning), {c: new[c] for c in ("id", *sets)})
        return shape.as_row(result.fetchall()[0]) if returning else None

    def _stored_by(
        self, table: str, column: str, value: Any, select: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored rows whose ``column`` equals ``value`` (an index lookup for ``id`` and
        single-column keys): the columns a one-row write compares (``select`` instead, if given)."""
        return self._stored_where(table, {column: value}, select)

    def _stored_where(
        self, table: str, values: dict[str, Any], select: str | None = None
    ) -> list[dict[str, Any]]:
        shape = _sql(table)
        result = self.cur.execute(shape.lookup(tuple(values), select), values)
        return [dict(zip(shape.probed, row, strict=False)) for row in result.fetchall()]

    def _stored_on(self, table: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Stored rows whose columns equal ``values``: by a column with an index of its own
        when the key has one, compared here (DuckDB uses no index for a filter on two
        columns, and a scan costs more than the few rows of an indexed name), else by a
        filter on every column."""
        if any(v is None for v in values.values()):
            return []
        column = next((c for c in values if c in self._indexed(table)), None)
        if column is None:
            return self._stored_where(table, values)
        rows = self._stored_by(table, column, values[column])
        return [r for r in rows if all(r[k] == v for k, v in values.items())]

    def _indexed(self, table: str) -> frozenset[str]:
        """Columns with an index of their own (primary key, one-column unique keys, indexes)."""
        if table not in _INDEXED:
            alone = {key[0] for key in self._unique_keys(table) if len(key) == 1}
            for (expressions,) in self.cur.execute(
                "SELECT expressions FROM duckdb_indexes() WHERE table_name = $t", {"t": table}
            ).fetchall():
                names = [n.strip(" '\"") for n in (expressions or "").strip("[]").split(",")]
                if len(names) == 1:
                    alone.add(names[0].strip('"'))
            _INDEXED[table] = frozenset({"id", *alone})
        return _INDEXED[table]

    def _write(self, table: str, batch: Batch, source: str, mode: _Mode) -> tuple[int, int, int]:
        """:meth:`write` and :meth:`write_changes`: 2.10's schedule views of a deployment
        batch become ``deployment_schedule`` rows, the rest :meth:`_write_rows`."""
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
            if mode.update is not None and "is_schedule_active" in mode.update:
                mode = dataclasses.replace(mode, update={*mode.update, "paused"})
        if table == "flow_run":
            with registered(self.cur, "_dk_rollup_src", arrow):
                _rollups.mark_runs(self.cur, "_dk_rollup_src", mode.key)
        written = self._write_rows(table, arrow, source, mode)
        if schedules is not None:
            replace_schedule_rows(self.cur, schedules, source=source, only_new=mode.on_conflict != "update")
        return written

    def _write_rows(self, table: str, arrow: pa.Table, source: str, mode: _Mode) -> tuple[int, int, int]:
        """Validate and write a batch of the table's own columns (and the helpers)."""
        key, on_conflict = mode.key, mode.on_conflict
        columns = table_columns(table)
        given = set(arrow.column_names)
        self._check_columns(table, columns, given, source, required=key)
        with registered(self.cur, "_dk_src", arrow):
            self._check_values(table, columns, given, key, source)
            repeats = bool(key) and arrow.num_rows > 1
            if repeats:
                repeats = self._check_duplicates(table, columns, given, key, source)
            fixed = key == ("id",) and not repeats and _fixed_ids(arrow) and "work_pool_name" not in given
            self._stage(table, columns, given, distinct=repeats or not key, view=fixed)
            try:
                if key not in ((), ("id",)):
                    self._resolve_ids(table, key, source)
                if on_conflict == "error":
                    self._check_new_ids(table, source)
                self._check_staged(table, source, check_unique=on_conflict != "skip", one=arrow.num_rows == 1)
                if on_conflict != "update":
                    written = self._insert_new(table, columns), 0, 0
                else:
                    written = self._upsert(table, columns, key, mode.update, keep_same=mode.keep_same)
            except duckdb.ConstraintException as exc:
                raise IntegrityError(f"{source}: {table}: {exc}") from None
            finally:
                with suppress(duckdb.TransactionException):
                    self.cur.execute(f"DROP {self._staged[0]} IF EXISTS _dk_stage")
        self._deferred.update((table, col) for col, _ in _DEFERRED_REFERENCES.get(table, ()))
        return written

    def _check_columns(
        self,
        table: str,
        columns: tuple[Column, ...],
        given: set[str],
        source: str,
        *,
        required: tuple[str, ...] | None,
    ) -> None:
        """No unknown columns; with ``required`` (the write's key), every column an insert needs."""
        unknown = sorted(given - {c.name for c in columns} - set(HELPER_COLUMNS))
        if unknown:
            raise self.invalid(f"{source}: unknown {table} columns: {', '.join(unknown)}")
        if required is None:
            return
        needed = {c.name for c in columns if not c.nullable} - (_optional(table) - set(required))
        missing = sorted(needed - given)
        if missing:
            raise self.invalid(f"{source}: {table} rows lack the column(s) {', '.join(missing)}")

    def finish(self, source: str) -> None:
        """Check the references that could only be checked once every table was written,
        and bring the run-history rollups up to date when many deployments changed."""
        _rollups.settle(self.cur)
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
                        f"{value} NOT BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' "
                        "AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'",  # year() drops BC
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
        # one scan finds whether any row fails; only then the union below names the first problem
        failing = " OR ".join(f"({condition})" for _, condition in checks)
        if not self._first(f"SELECT 1 FROM _dk_src WHERE {failing} LIMIT 1"):
            return
        union = " UNION ALL ".join(
            f"SELECT {row}, {where}, {problem} FROM _dk_src WHERE {condition}"
            for problem, condition in checks
        )
        found = self._first(f"{union} LIMIT 1", {"src": source})
        if found:
            row_id, src, problem = found
            raise self.invalid(f"{src}: {table} {row_id or '(no id)'}: {problem}")

    def _check_duplicates(
        self, table: str, columns: tuple[Column, ...], given: set[str], key: tuple[str, ...], source: str
    ) -> bool:
        """A key twice in one batch: fine for an id with identical content, else an error.

        Returns whether a key may repeat: ``False`` when every row's key, read as the
        store's type, is its own (one grouping of the key columns, the usual case), so the
        rows are distinct already and :meth:`_stage` need not de-duplicate them.
        """
        values = _staged_values(table, columns, given)
        keys = ", ".join(values[k] for k in key)
        if not self._first(f"SELECT 1 FROM _dk_src GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"):
            return False  # no key repeats as stored, so none repeats as given either
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
        return True

    def _stage(
        self, table: str, columns: tuple[Column, ...], given: set[str], *, distinct: bool, view: bool
    ) -> None:
        """Cast, fill defaults and ids, de-duplicate (unless the rows are known ``distinct``
        already) and resolve queue names into ``_dk_stage``.

        With ``view`` (the staged values are fixed: ids given, nothing to de-duplicate or
        resolve), ``_dk_stage`` is a view of the batch rather than a copy: a temporary
        table dropped inside a transaction keeps its memory until the commit, which for
        an import of a million runs was 600 MiB of copies. :meth:`_drop_unchanged` makes
        it a table of the rows left to write.
        """
        values = _staged_values(table, columns, given)
        selects = [f"{value} AS {name}" for name, value in values.items()]
        pool = "work_pool_name" if "work_pool_name" in given else "NULL::VARCHAR"
        queues = table in ("deployment", "flow_run")
        if queues:
            selects.append(f"{pool} AS work_pool_name")
        query = f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(selects)} FROM _dk_src"
        self._staged = ("VIEW", query) if view else ("TABLE", query)
        self.cur.execute(f"CREATE OR REPLACE TEMP {self._staged[0]} _dk_stage AS {query}")
        if queues and "work_pool_name" in given:
            self.cur.execute(
                "UPDATE _dk_stage s SET work_queue_id = q.id FROM work_queue q "
                "JOIN work_pool p ON p.id = q.work_pool_id "
                "WHERE s.work_queue_id IS NULL AND s.work_pool_name = p.name "
                "AND s.work_queue_name = q.name"
            )

    def _drop_unchanged(self, table: str, on: str, equal: str) -> int:
        """Remove from ``_dk_stage`` the rows ``equal`` to their stored row; how many.

        A staged view (:meth:`_stage`) becomes a table of the rows that are new or differ
        only: reading unchanged rows again (a first sync, a re-import) copies none of them.
        """
        kind, query = self._staged
        if kind == "TABLE":
            return self.cur.execute(
                f"DELETE FROM _dk_stage AS s USING {table} AS t WHERE {on} AND {equal}"
            ).fetchall()[0][0]
        staged = self.cur.execute("SELECT count(*) FROM _dk_stage").fetchall()[0][0]
        self.cur.execute("DROP VIEW _dk_stage")
        self._staged = ("TABLE", query)
        self.cur.execute(
            f"CREATE TEMP TABLE _dk_stage AS SELECT * FROM ({query}) AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {on} AND {equal})"
        )
        return staged - self.cur.execute("SELECT count(*) FROM _dk_stage").fetchall()[0][0]

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
        """Each distinct value of a JSON or constrained field, validated by the schema.

        The distinct short, shallow texts of a JSON field go to pydantic together, as one
        JSON list (one parse in Rust, where a call per value costs more than the parse):
        when the list passes, so does every value, and only the long or deep texts are left
        to check one by one. A list that fails is checked value by value, for the message.
        """
        for name, (_, is_json) in _checked_fields(table).items():
            shallow = "true"
            if is_json:
                brackets = f"length({name}) - length(replace(replace({name}, '[', ''), '{{', ''))"
                shallow = f"{brackets} < {_BULK_DEPTH} AND length({name}) <= {_BULK_TEXT}"
                count, text = self.cur.execute(
                    f"SELECT count(*), '[' || coalesce(string_agg({name}, ','), '') || ']' "
                    f"FROM (SELECT DISTINCT {name} FROM _dk_stage WHERE {name} IS NOT NULL AND {shallow})"
                ).fetchall()[0]
                if count == 0 or _valid_list(table, name, text, count):
                    shallow = f"NOT ({shallow})"
                else:
                    shallow = "true"
            values = self.cur.execute(
                f"SELECT {name}, any_value(CAST(id AS VARCHAR)) FROM _dk_stage "
                f"WHERE {name} IS NOT NULL AND {shallow} GROUP BY {name}"
            ).fetchall()
            for value, row_id in values:
                self._check_field(table, name, value, row_id, source)

    def _check_field(self, table: str, name: str, value: Any, row_id: Any, source: str) -> None:
        """One value of a JSON or constrained field, validated by the schema."""
        adapter, is_json = _checked_fields(table)[name]
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
        unchanged, never written).

        When no staged row matches a stored one (a first import), the rows are inserted
        as they are: no join of the stored table but the one that finds no match."""
        on = " AND ".join(f"t.{k} = s.{k}" for k in key)
        fixed = _FIXED_ON_UPDATE.get(table, frozenset()) | {"id", *key}
        names = [c.name for c in columns]
        insert = f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(f's.{c}' for c in names)} "
        if not self._first(f"SELECT 1 FROM _dk_stage AS s SEMI JOIN {table} AS t ON {on} LIMIT 1"):
            return self.cur.execute(f"{insert} FROM _dk_stage AS s").fetchall()[0][0], 0, 0
        updated = [c for c in names if c not in fixed and (update is None or c in update)]
        same = 0
        if keep_same is not False:
            compared = [c for c in updated if keep_same is True or c not in keep_same]
            equal = " AND ".join(f"t.{c} IS NOT DISTINCT FROM s.{c}" for c in compared) or "true"
            same = self._drop_unchanged(table, on, equal)
            if not self._first("SELECT 1 FROM _dk_stage LIMIT 1"):
                return 0, 0, same  # every row unchanged
        # set only the columns some matched row changes: DuckDB rewrites each column it sets
        # in every row group an updated row lies in, at the update and again at the commit
        flags = ", ".join(f"bool_or(t.{c} IS DISTINCT FROM s.{c})" for c in updated) or "NULL"
        differs = self.cur.execute(f"SELECT {flags} FROM _dk_stage AS s JOIN {table} AS t ON {on}").fetchall()
        changed = [c for c, flag in zip(updated, differs[0], strict=False) if flag]
        existing = update_matched(self.cur, table, "_dk_stage", on, changed)
        inserted = self.cur.execute(f"{insert} FROM _dk_stage AS s ANTI JOIN {table} AS t ON {on}")
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


# --- one row ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Mode:
    """How a write treats stored rows: the key it matches them on (``()``: none, skip
    clashes), the columns a matched row takes, and which identical rows it leaves alone."""

    key: tuple[str, ...]
    update: Collection[str] | None
    on_conflict: Literal["update", "skip", "error"]
    keep_same: Collection[str] | bool = False

    @classmethod
    def of(
        cls,
        key: tuple[str, ...],
        update: Collection[str] | None,
        on_conflict: Literal["update", "skip", "error"],
        *,
        keep_same: Collection[str] | bool = False,
    ) -> _Mode:
        """The mode of a write: ``skip`` matches on no key, ``error`` on the id alone."""
        matched = {"update": key, "skip": (), "error": ("id",)}[on_conflict]
        return cls(matched, update, on_conflict, keep_same)


class Written(NamedTuple):
    """What :meth:`Writer.write_row` did: rows inserted, rows updated, and (if asked) the row as stored."""

    inserted: int
    updated: int
    row: dict[str, Any] | None


class _RowSql:
    """The SQL texts one-row writes to a table reuse, built once per table (every store has the same DDL)."""

    def __init__(self, table: str):
        self.table = table
        names = [c.name for c in table_columns(table)]
        self.insert = insert_sql(table, names)
        refs = {c for c, _ in _REFERENCES.get(table, ())}
        compared = rewritten_columns(table) | _FIXED_ON_UPDATE.get(table, frozenset()) | refs
        self.probed = ("id", *sorted(compared - {"id"}))
        self._texts: dict[Any, str] = {}
        self._times = tuple(c.type == _TIMESTAMP for c in table_columns(table))
        self._names = names
        self.returned = ", ".join(  # a TIMESTAMPTZ reaches Python 10x faster as an integer
            f"epoch_us({n}) AS {n}" if is_time else n for n, is_time in zip(names, self._times, strict=True)
        )
        self.select_row = f"SELECT {self.returned} FROM {table} WHERE id = $id"

    def as_row(self, values: Sequence[Any]) -> dict[str, Any]:
        """A row read through :attr:`returned`, timestamps back as aware datetimes."""
        return {
            name: _EPOCH + timedelta(microseconds=v) if is_time and v is not None else v
            for name, v, is_time in zip(self._names, values, self._times, strict=True)
        }

    def lookup(self, columns: tuple[str, ...], select: str | None = None) -> str:
        """Rows whose ``columns`` equal the parameters of their names: the compared columns
        (or ``select``)."""
        key = ("lookup", columns, select)
        if key not in self._texts:
            selected = select or ", ".join(self.probed)
            where = " AND ".join(f"{c} = ${c}" for c in columns)
            self._texts[key] = f"SELECT {selected} FROM {self.table} WHERE {where}"
        return self._texts[key]

    def update(self, columns: tuple[str, ...], returning: bool) -> str:
        """``UPDATE`` of ``columns`` of the row ``$id`` (``RETURNING *`` if asked)."""
        key = ("update", columns, returning)
        if key not in self._texts:
            text = update_sql(self.table, columns)
            self._texts[key] = f"{text} RETURNING {self.returned}" if returning else text
        return self._texts[key]


@cache
def _sql(table: str) -> _RowSql:
    return _RowSql(table)


_DELETE_SCHEDULES = "DELETE FROM deployment_schedule WHERE deployment_id = $id"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEXED: dict[str, frozenset[str]] = {}
"""Columns with an index of their own per table, read from the first store's catalog."""

_QUEUE_IN_POOL = (
    "SELECT q.id FROM work_queue q JOIN work_pool p ON p.id = q.work_pool_id "
    "WHERE p.name = $pool AND q.name = $queue"
)
"""The queue a row names by pool and queue name (``_stage`` resolves a batch's so)."""


def _label(table: str, row: Mapping[str, Any]) -> str:
    """:func:`_row_label` of one row."""
    name = row.get("name") if "name" in STORED_MODELS[table].model_fields else None
    return f"{row['id']}" + ("" if name is None else f" ({name})")


def _fixed_ids(arrow: pa.Table) -> bool:
    """Whether every row of the batch gives its id (no id is left to draw at random)."""
    return "id" in arrow.column_names and arrow.column("id").null_count == 0


def _staged_values(table: str, columns: tuple[Column, ...], given: set[str]) -> dict[str, str]:
    """Each column's value as :meth:`Writer._stage` stores it: cast, the schema's default,
    a new id, the time of the transaction."""
    literals = sql_defaults(table)
    values = {}
    for col in columns:
        value = f"CAST({col.name} AS {col.type})" if col.name in given else "NULL"
        if col.name in literals:
            value = f"COALESCE({value}, {literals[col.name]})"
        elif col.name == "id":
            value = f"COALESCE({value}, uuid())"
        elif col.name == "created":
            value = f"COALESCE({value}, now())"
        elif col.name == "updated":
            created = f"CAST(created AS {_TIMESTAMP})" if "created" in given else "NULL"
            value = f"COALESCE({value}, {created}, now())"
        values[col.name] = f"{value}::{col.type}"
    return values


def _column_type(table: str, name: str) -> str:
    return next(c.type for c in table_columns(table) if c.name == name)
