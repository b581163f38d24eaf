"""Insert scheduled flow runs in one statement: for one deployment, or for a whole selection.

Shared by ``schedule_runs`` (one deployment) and ``schedule_all`` (the fleet), both through
the one writer's set-based :meth:`~deploykit.models.writer.Writer.insert_select` (which
completes the rows with the schema's defaults and skips stored unique keys): the run
details are copied from the deployment row inside DuckDB (parameters: the deployment's,
updated by the schedule's), and runs whose (flow_id, idempotency_key) already exists are
skipped. Existing keys are found first (an index probe for one deployment, an anti-join
for the fleet) rather than with ``ON CONFLICT``, which DuckDB checks row by row and is 10x
slower on a large ``flow_run`` table; the unique constraint still guards against any race.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import duckdb
import polars as pl

from deploykit.models.writer import Writer, registered
from deploykit.store import Store

AUTO_SCHEDULED_TAG = "auto-scheduled"

_RUN_VALUES = {
    "created": "$now",
    "updated": "$now",
    "name": "d.name || '-' || strftime(n.scheduled_time, '%Y%m%d-%H%M%S')",
    "flow_id": "d.flow_id",
    "deployment_id": "d.id",
    "work_queue_name": "d.work_queue_name",
    "work_queue_id": "d.work_queue_id",
    "tags": "CASE WHEN $auto THEN list_prepend($tag, d.tags) ELSE d.tags END",
    "state_type": "'SCHEDULED'",
    "state_name": "'Scheduled'",
    "state_message": "'Flow run scheduled'",
    "state_timestamp": "$now",
    "scheduled_time": "n.scheduled_time",
    "expected_start_time": "n.scheduled_time",
    "next_scheduled_start_time": "n.scheduled_time",
    "auto_scheduled": "$auto",
    "infrastructure_document_id": "d.infrastructure_document_id",
}
"""A scheduled run's columns, from its deployment ``d`` and its date ``n`` (the writer adds
``parameters`` and ``idempotency_key`` as given, and completes the rest)."""
_RETURNING = "id, deployment_id, expected_start_time AS scheduled_time, idempotency_key"
_ORDER = "d.id, n.scheduled_time"

_FLEET_KEY = (
    "'scheduled ' || CAST(d.id AS VARCHAR) || ' ' "
    "|| CASE WHEN d.schedule_count > 1 THEN CAST(d.schedule_id AS VARCHAR) || ' ' ELSE '' END || n.iso"
)
_FLEET_PARAMETERS = (
    "CASE WHEN d.schedule_parameters = '{}' THEN d.parameters ELSE CAST(to_json(map_concat("
    "CAST(json(d.parameters) AS MAP(VARCHAR, JSON)), CAST(json(d.schedule_parameters) AS MAP(VARCHAR, JSON))"
    ")) AS VARCHAR) END"
)
"""The deployment's parameters updated by the schedule's (top-level keys, as ``dict.update``)."""
_FLEET_SOURCE = """({selected}) AS d
JOIN (
    SELECT unnest($texts) AS schedule, unnest($caps) AS cap, generate_subscripts($texts, 1) - 1 AS _key
) AS t
    ON t.schedule = d.schedule AND t.cap = least(coalesce(d.max_scheduled_runs, $max_runs), $max_runs)
JOIN run_dates AS n ON n._key = t._key"""
_ONE_DEPLOYMENT_SOURCE = """(SELECT unnest($times) AS scheduled_time, unnest($keys) AS idempotency_key,
    unnest($parameters) AS parameters) AS n, deployment AS d"""


class ToSchedule(NamedTuple):
    """What scheduling one deployment reads of it: flow, pause, parameters (JSON text), and
    its schedules in the order written (``id``, ``schedule`` and ``parameters`` as JSON text,
    ``active``, ``max_scheduled_runs``)."""

    flow_id: UUID
    paused: bool
    parameters: str
    schedules: list[dict[str, Any]]


def to_schedule(cur: duckdb.DuckDBPyConnection, deployment_id: UUID) -> ToSchedule | None:
    """The deployment's :class:`ToSchedule` in one statement (two index lookups), or ``None``.

    Read as plain values: the schedule texts are parsed by ``cached_schedule``, which
    meets the same few texts again and again, so no model is validated per call.
    """
    row = cur.execute(_TO_SCHEDULE, {"id": deployment_id}).fetchone()
    return None if row is None else ToSchedule(row[0], row[1], row[2], row[3] or [])


_TO_SCHEDULE = """
SELECT flow_id, paused, parameters, (
    SELECT list(struct_pack(id, schedule, active, max_scheduled_runs, parameters) ORDER BY created, id)
    FROM deployment_schedule WHERE deployment_id = $id
) FROM deployment WHERE id = $id
"""


def idempotency_key(deployment_id: UUID | str, date: datetime, schedule_id: UUID | str | None = None) -> str:
    """Prefect's key for an auto-scheduled run: ``scheduled <deployment id> <ISO date>`` (2.10,
    a deployment with one schedule), ``scheduled <deployment id> <schedule id> <ISO date>``
    (Prefect 3, given the schedule of a deployment with several).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> idempotency_key("a", datetime(2023, 1, 1, tzinfo=timezone.utc))
    'scheduled a 2023-01-01T00:00:00+00:00'
    >>> idempotency_key("a", datetime(2023, 1, 1, tzinfo=timezone.utc), "s")
    'scheduled a s 2023-01-01T00:00:00+00:00'
    """
    if schedule_id is None:
        return f"scheduled {deployment_id} {date.isoformat()}"
    return f"scheduled {deployment_id} {schedule_id} {date.isoformat()}"


def insert_fleet_runs(
    session: Store,
    selected: str,
    params: dict[str, Any],
    keys: list[tuple[str, int]],
    dates: pl.DataFrame,
    *,
    max_runs: int,
    auto_scheduled: bool,
) -> pl.DataFrame:
    """Give every (deployment, schedule) row that the query ``selected`` returns the runs of its schedule.

    ``selected`` selects ``deployment`` rows with their schedule's ``schedule_id``,
    ``schedule``, ``max_scheduled_runs``, ``schedule_parameters`` and the deployment's
    ``schedule_count`` (with bound ``params``). ``keys`` are the distinct (schedule JSON
    text, run cap) pairs, the cap being ``max_runs`` lowered by ``max_scheduled_runs``.
    ``dates`` has ``_key`` (the position of a pair in ``keys``), ``scheduled_time``
    (UTC) and ``iso`` (the time as ``isoformat`` writes it in the schedule's zone).
    Returns the runs actually inserted: ``id``, ``deployment_id``, ``scheduled_time``
    and ``idempotency_key``. Must be called inside a transaction.
    """
    if dates.is_empty():
        return pl.DataFrame(schema=INSERTED_SCHEMA)
    cur = session.cursor()
    values = _RUN_VALUES | {"parameters": _FLEET_PARAMETERS, "idempotency_key": _FLEET_KEY}
    pairs = {"texts": [text for text, _ in keys], "caps": [cap for _, cap in keys], "max_runs": max_runs}
    with registered(cur, "run_dates", dates):
        inserted = Writer(cur).insert_select(
            "flow_run",
            values,
            _FLEET_SOURCE.format(selected=selected),
            params | _params(auto_scheduled) | pairs,
            source="schedule_all",
            order_by=_ORDER,
            returning=_RETURNING,
            as_frame=True,
        )
        return inserted  # type: ignore[return-value]


def insert_deployment_runs(
    session: Store,
    deployment_id: UUID,
    flow_id: UUID,
    runs: list[tuple[datetime, str, str]],
    *,
    auto_scheduled: bool,
) -> list[UUID]:
    """Insert one deployment's SCHEDULED runs, each ``(date, idempotency key, parameters JSON)``;
    return the ids actually inserted.

    The runs travel as bound list parameters: no frame to build for a handful of runs.
    """
    writer = Writer(session.cursor())
    taken = writer.stored_keys("flow_run", {"flow_id": flow_id}, "idempotency_key", [k for _, k, _ in runs])
    fresh = [run for run in runs if run[1] not in taken]
    if not fresh:
        return []
    params = _params(auto_scheduled) | {
        "dep": deployment_id,
        "times": [d.astimezone(UTC) for d, _, _ in fresh],
        "keys": [k for _, k, _ in fresh],
        "parameters": [p for _, _, p in fresh],
    }
    inserted = writer.insert_select(
        "flow_run",
        _RUN_VALUES | {"parameters": "n.parameters", "idempotency_key": "n.idempotency_key"},
        _ONE_DEPLOYMENT_SOURCE,
        params,
        source="schedule_runs",
        where="d.id = $dep",
        skip_stored=False,
        order_by=_ORDER,
    )
    return [row[0] for row in inserted]


def _params(auto_scheduled: bool) -> dict[str, object]:
    return {"now": datetime.now(UTC), "auto": auto_scheduled, "tag": AUTO_SCHEDULED_TAG}


INSERTED_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "deployment_id": pl.String(),
        "scheduled_time": pl.Datetime("us", "UTC"),
        "idempotency_key": pl.String(),
    }
)


def iso_text(local_time: pl.Expr, scheduled_time: pl.Expr) -> pl.Expr:
    """The UTC ``scheduled_time`` written at its wall clock ``local_time`` with the offset
    between them, as ``datetime.isoformat`` writes an aware datetime.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> frame = pl.DataFrame({"local": [datetime(2023, 3, 12, 3, 0, 0, 5)],
    ...                       "utc": [datetime(2023, 3, 12, 7, 0, 0, 5, tzinfo=timezone.utc)]})
    >>> frame.select(iso_text(pl.col("local"), pl.col("utc"))).item()
    '2023-03-12T03:00:00.000005-04:00'
    """
    offset = local_time.cast(pl.Int64) - scheduled_time.dt.replace_time_zone(None).cast(pl.Int64)
    seconds = offset.abs() // 1_000_000

    def two_digits(value: pl.Expr) -> pl.Expr:
        return value.cast(pl.String).str.zfill(2)

    return pl.concat_str(
        local_time.dt.strftime("%Y-%m-%dT%H:%M:%S"),
        pl.when(local_time.dt.microsecond() != 0)
        .then(pl.lit(".") + local_time.dt.microsecond().cast(pl.String).str.zfill(6))
        .otherwise(pl.lit("")),
        pl.when(offset < 0).then(pl.lit("-")).otherwise(pl.lit("+")),
        two_digits(seconds // 3600),
        pl.lit(":"),
        two_digits(seconds // 60 % 60),
        pl.when(seconds % 60 != 0).then(pl.lit(":") + two_digits(seconds % 60)).otherwise(pl.lit("")),
    )
