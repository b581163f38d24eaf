"""Prefect REST bodies and store rows, both ways, for every release.

:func:`body_rows` splits a body into the store's row (the fields deploykit models, under
their column names) and, for deployments, its ``deployment_schedule`` rows;
:func:`row_body` puts a row back together in a release's body shape. The fields a
body carries that :func:`row_body` would not give back as they were (unmodelled
fields such as a run's ``context`` or ``state.data``, 3.x's
``global_concurrency_limit``, a 2.20 body's legacy ``schedule``) go verbatim into the
row's ``extra`` JSON, which :func:`row_body` lays over its result: an export gives
back the bodies an import read.

Rows here are dicts of plain values: JSON columns as Python objects, timestamps as
ISO text or datetimes, ids as text; ``work_pool_name`` (and a flow run's
``work_pool_id``) ride along as helpers, since Prefect derives them from the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from deploykit._errors import SourceError
from deploykit.io._releases import BODY_KEYS, SCHEDULE_KEYS, STATE_KEYS
from deploykit.store import table_columns

KIND_TABLES: dict[str, str] = {
    "flows": "flow",
    "work_pools": "work_pool",
    "work_queues": "work_queue",
    "deployments": "deployment",
    "flow_runs": "flow_run",
    "task_runs": "task_run",
}
"""Prefect's collection names and the store tables they fill."""

DERIVED: dict[str, frozenset[str]] = {
    "work_queues": frozenset({"work_pool_name"}),
    "deployments": frozenset({"work_pool_name"}),
    "flow_runs": frozenset({"work_pool_name", "work_pool_id"}),
}
"""Body fields Prefect derives from the queue (never kept in ``extra``)."""

_MISSING = object()
_SCHEDULE_NAMESPACE = uuid.UUID("6f1c2a57-0d54-4bde-a1c5-5d1f3a0e9b21")


def legacy_schedule_id(deployment_id: str) -> str:
    """The id given to the one schedule of a Prefect 2.10-2.17 deployment (stable across imports).

    Examples
    --------
    >>> legacy_schedule_id("63a5530c-4112-40e5-ad4a-8c4c6072b832") == legacy_schedule_id(
    ...     "63a5530c-4112-40e5-ad4a-8c4c6072b832")
    True
    """
    return str(uuid.uuid5(_SCHEDULE_NAMESPACE, str(deployment_id)))


@cache
def timestamp_columns(table: str) -> frozenset[str]:
    """The table's TIMESTAMPTZ columns."""
    return frozenset(c.name for c in table_columns(table) if c.type.startswith("TIMESTAMP"))


@cache
def column_names(table: str) -> frozenset[str]:
    return frozenset(c.name for c in table_columns(table))


def format_time(value: Any, release: str) -> Any:
    """A timestamp as the release writes it: ISO 8601 in UTC, ``+00:00`` (2.x) or ``Z`` (3.x).

    Examples
    --------
    >>> format_time("2026-11-01T01:00:00+01:00", "3.x")
    '2026-11-01T00:00:00Z'
    >>> format_time("2026-11-01T00:00:00.5Z", "2.20")
    '2026-11-01T00:00:00.500000+00:00'
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value  # the writer names the bad value
    if not isinstance(value, datetime) or value.tzinfo is None:
        return value
    try:
        text = value.astimezone(UTC).isoformat()
    except OverflowError:  # its UTC instant lies outside years 1..9999
        return value if isinstance(value, str) else value.isoformat()
    return text.replace("+00:00", "Z") if release == "3.x" else text


def _same(a: Any, b: Any) -> bool:
    """Equal values; timestamps (text) equal when they are the same instant."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        try:
            return datetime.fromisoformat(a) == datetime.fromisoformat(b)
        except ValueError:
            return False
    return False


# --- body -> rows ----------------------------------------------------------------------------


def body_rows(kind: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The store row of one body (``extra`` included) and, for a deployment, its schedule rows."""
    table = KIND_TABLES[kind]
    columns = column_names(table)
    row: dict[str, Any] = {k: v for k, v in body.items() if k in columns and k != "extra"}
    for helper in DERIVED.get(kind, ()):
        if helper in body:
            row[helper] = body[helper]
    schedules: list[dict[str, Any]] = []
    if kind in ("flow_runs", "task_runs"):
        _state_columns(row, body)
    if kind == "deployments":
        schedules = _deployment_columns(row, body)
    if kind == "flow_runs" and row.get("work_pool_name") is None:
        row.pop("work_pool_name", None)
    release = _release_of(kind, body)
    rebuilt = row_body(kind, row, schedules, release=release)
    extra = _difference(body, rebuilt, DERIVED.get(kind, frozenset()))
    row["extra"] = extra or None
    return row, schedules


def _release_of(kind: str, body: Mapping[str, Any]) -> str:
    from deploykit.io._releases import release_of_bodies

    return release_of_bodies(kind, [body])


def _state_columns(row: dict[str, Any], body: Mapping[str, Any]) -> None:
    """A run's nested ``state`` into its state columns (top-level fields win)."""
    state = body.get("state") or {}
    if not isinstance(state, Mapping):
        raise SourceError(f"run {body.get('id')}: state must be an object, got {state!r:.80}")
    details = state.get("state_details")
    for column, key in (
        ("state_type", "type"),
        ("state_name", "name"),
        ("state_id", "id"),
        ("state_timestamp", "timestamp"),
        ("state_message", "message"),
        ("state_details", "state_details"),
    ):
        if row.get(column) is None and state.get(key) is not None:
            row[column] = state[key]
    if "scheduled_time" in column_names("flow_run") and isinstance(details, Mapping):
        row.setdefault("scheduled_time", details.get("scheduled_time"))


def _deployment_columns(row: dict[str, Any], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Schedules, ``paused``, ``job_variables`` and the concurrency limit of a deployment body."""
    if "job_variables" in body:
        row["infra_overrides"] = body["job_variables"]
    limit = body.get("global_concurrency_limit")
    if row.get("concurrency_limit") is None and isinstance(limit, Mapping):
        row["concurrency_limit"] = limit.get("limit")
    deployment_id = body.get("id")
    if "schedules" in body or "paused" in body:
        row["paused"] = bool(body.get("paused", False))
        items = body.get("schedules") or []
        schedules = [_schedule_row(deployment_id, item) for item in items if isinstance(item, Mapping)]
    else:
        active = body.get("is_schedule_active")
        row["paused"] = False if active is None else not active
        schedules = []
        if body.get("schedule") is not None:
            schedules = [
                {
                    "id": legacy_schedule_id(deployment_id),
                    "created": body.get("created"),
                    "updated": body.get("updated"),
                    "deployment_id": deployment_id,
                    "schedule": body["schedule"],
                    "active": True,
                    "parameters": {},
                }
            ]
    return schedules


def _schedule_row(deployment_id: Any, item: Mapping[str, Any]) -> dict[str, Any]:
    columns = column_names("deployment_schedule")
    row = {k: v for k, v in item.items() if k in columns and k != "extra"}
    row.setdefault("deployment_id", deployment_id)
    if row.get("parameters") is None:
        row["parameters"] = {}
    extra = {k: v for k, v in item.items() if k not in columns or k == "extra"}
    if "parameters" in item and item["parameters"] is None:
        extra["parameters"] = None
    row["extra"] = extra or None
    return row


def _difference(body: Mapping[str, Any], rebuilt: Mapping[str, Any], derived: frozenset[str]) -> dict:
    """The parts of ``body`` that ``rebuilt`` does not give back (dicts compared key by key)."""
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in derived:
            continue
        mine = rebuilt.get(key, _MISSING)
        if _same(mine, value):
            continue
        if isinstance(value, Mapping) and isinstance(mine, Mapping):
            inner = _difference(value, mine, frozenset())
            if inner and not (mine.keys() - value.keys()):
                extra[key] = inner
                continue
        extra[key] = value
    return extra


# --- rows -> body ----------------------------------------------------------------------------


def row_body(
    kind: str,
    row: Mapping[str, Any],
    schedules: Sequence[Mapping[str, Any]] = (),
    *,
    release: str,
) -> dict[str, Any]:
    """The body ``release`` returns for a store row (its ``extra`` laid over the result)."""
    table = KIND_TABLES[kind]
    times = timestamp_columns(table)
    keys = BODY_KEYS[release][kind]
    extra = row.get("extra") or {}
    body: dict[str, Any] = {}
    for key in keys:
        value = _field(kind, key, row, schedules, release)
        if value is not _MISSING:
            body[key] = format_time(value, release) if key in times else value
        elif key in extra:
            body[key] = None  # its place in Prefect's order; the value comes from extra
    body = _overlay(body, extra)
    for key in _deploykit_only(kind):
        if row.get(key) is not None and key not in body:
            body[key] = row[key]
    return body


def _overlay(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(body.get(key), Mapping):
            body[key] = _overlay(dict(body[key]), value)
        else:
            body[key] = value
    return body


@cache
def _deploykit_only(kind: str) -> tuple[str, ...]:
    """Columns no Prefect release's body has (e.g. a legacy ``flow_runner``): given back when set."""
    every = set().union(*(set(BODY_KEYS[r].get(kind, ())) for r in BODY_KEYS))
    mapped = {
        "paused",
        "infra_overrides",
        "state_message",
        "state_timestamp",
        "state_details",
        "scheduled_time",
        "extra",
        "concurrency_limit",
        "work_queue_id",
        "job_variables",
        "labels",
    }
    return tuple(c.name for c in table_columns(KIND_TABLES[kind]) if c.name not in every | mapped)


def _field(
    kind: str, key: str, row: Mapping[str, Any], schedules: Sequence[Mapping[str, Any]], release: str
) -> Any:
    """The value of body field ``key`` rebuilt from the row (``_MISSING``: only ``extra`` has it)."""
    if kind == "deployments":
        if key == "schedule":
            return schedules[0]["schedule"] if len(schedules) == 1 else None
        if key == "is_schedule_active":
            return not row.get("paused", False)
        if key in ("infra_overrides", "job_variables"):
            return row.get("infra_overrides", {})
        if key == "schedules":
            ordered = sorted(schedules, key=lambda s: str(s.get("id")))
            ordered = sorted(ordered, key=lambda s: _instant(s.get("updated")), reverse=True)
            return [schedule_body(s, release) for s in ordered]
    if key == "state" and kind in ("flow_runs", "task_runs"):
        if row.get("state_type") is None:
            return None
        state = {
            "id": row.get("state_id"),
            "type": row.get("state_type"),
            "name": row.get("state_name"),
            "timestamp": format_time(row.get("state_timestamp"), release),
            "message": row.get("state_message"),
            "data": _MISSING,
            "state_details": row.get("state_details"),
        }
        return {k: state[k] for k in STATE_KEYS if state[k] is not _MISSING}
    return row.get(key, _MISSING)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def schedule_body(row: Mapping[str, Any], release: str) -> dict[str, Any]:
    """One item of a deployment body's ``schedules``."""
    keys = SCHEDULE_KEYS.get(release, SCHEDULE_KEYS["3.x"])
    extra = row.get("extra") or {}
    body: dict[str, Any] = {}
    for key in keys:
        if key in row:
            value = row[key]
            body[key] = format_time(value, release) if key in ("created", "updated") else value
        elif key in extra:
            body[key] = None  # its place in Prefect's order; the value comes from extra
    return _overlay(body, extra)
