"""Flow run operations (Prefect's ``server/models/flow_runs.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import polars as pl
from sqlglot import exp

from deploykit._errors import IntegrityError
from deploykit.filters import DeploymentFilter, FlowRunFilter
from deploykit.models._args import coerce_filter, non_negative
from deploykit.models._bulk import models_to_frame, normalise_frame
from deploykit.models._rows import fetch_model, insert_sql, to_row
from deploykit.predicates import SqlCompiler
from deploykit.schemas._base import utc_now
from deploykit.schemas.core import FlowRun
from deploykit.schemas.states import StateType
from deploykit.store import Store


def create_flow_run(session: Store, flow_run: FlowRun) -> FlowRun:
    """Create a flow run; with an ``idempotency_key`` already used for its flow, return that run.

    Examples
    --------
    >>> from deploykit import Store, Flow
    >>> from deploykit.models.flows import create_flow
    >>> store = Store()
    >>> flow = create_flow(store, Flow(name="etl"))
    >>> a = create_flow_run(store, FlowRun(flow_id=flow.id, idempotency_key="k"))
    >>> create_flow_run(store, FlowRun(flow_id=flow.id, idempotency_key="k")).id == a.id
    True
    """
    now = utc_now()
    with session.transaction() as cur:
        if not cur.execute("SELECT 1 FROM flow WHERE id = $id", {"id": flow_run.flow_id}).fetchall():
            raise IntegrityError(f"flow_id {flow_run.flow_id} does not refer to an existing flow")
        row = to_row(flow_run) | {"created": now, "updated": now}
        inserted = cur.execute(
            insert_sql("flow_run", row) + " ON CONFLICT (flow_id, idempotency_key) DO NOTHING RETURNING id",
            row,
        ).fetchall()
        if inserted:
            return read_flow_run(session, inserted[0][0])  # type: ignore[return-value]
        return fetch_model(  # type: ignore[return-value]
            cur,
            FlowRun,
            "SELECT * FROM flow_run WHERE flow_id = $f AND idempotency_key = $k",
            {"f": flow_run.flow_id, "k": flow_run.idempotency_key},
        )


def create_flow_runs(session: Store, flow_runs: pl.DataFrame | Sequence[FlowRun]) -> int:
    """Insert many flow runs in one statement; runs whose id or (flow, idempotency key)
    is already stored, or repeats an earlier row of the batch, are skipped.

    Returns
    -------
    int
        How many runs were inserted.

    Examples
    --------
    >>> from deploykit import Store, Flow
    >>> from deploykit.models.flows import create_flow
    >>> store = Store()
    >>> flow = create_flow(store, Flow(name="etl"))
    >>> frame = pl.DataFrame({"flow_id": [str(flow.id)] * 3, "state_type": ["COMPLETED", "FAILED", None]})
    >>> create_flow_runs(store, frame)
    3
    """
    if isinstance(flow_runs, pl.DataFrame):
        frame = normalise_frame(flow_runs, FlowRun, required={"flow_id"})
        frame = frame.with_columns(
            pl.when(pl.col("name").is_null())
            .then(pl.lit("run-") + pl.int_range(pl.len()).cast(pl.String))
            .otherwise(pl.col("name"))
            .alias("name")
        )
    else:
        frame = models_to_frame(list(flow_runs), FlowRun)
    if frame.is_empty():
        return 0
    bad_states = frame.filter(
        pl.col("state_type").is_not_null() & ~pl.col("state_type").is_in([s.value for s in StateType])
    )
    if bad_states.height:
        raise ValueError(f"FlowRun.state_type {bad_states['state_type'][0]!r} is not a known state type")
    frame = frame.filter(
        (pl.col("id").is_null() | pl.col("id").is_first_distinct())
        & (pl.col("idempotency_key").is_null() | pl.struct("flow_id", "idempotency_key").is_first_distinct())
    )
    with session.transaction() as cur:
        cur.register("new_flow_runs", frame)
        try:
            missing = cur.execute(
                "SELECT DISTINCT n.flow_id FROM new_flow_runs n "
                "ANTI JOIN flow f ON f.id = CAST(n.flow_id AS UUID) LIMIT 1"
            ).fetchall()
            if missing:
                raise IntegrityError(f"flow_id {missing[0][0]} does not refer to an existing flow")
            selects = ", ".join(
                "coalesce(CAST(id AS UUID), uuid())"
                if c == "id"
                else "$now"
                if c in ("created", "updated")
                else c
                for c in frame.columns
            )
            inserted = cur.execute(
                f"INSERT INTO flow_run ({', '.join(frame.columns)}) SELECT {selects} FROM new_flow_runs n "
                + _SKIP_EXISTING,
                {"now": utc_now()},
            ).fetchall()[0][0]
        finally:
            cur.unregister("new_flow_runs")
    return int(inserted)


_SKIP_EXISTING = """
WHERE NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.id = CAST(n.id AS UUID))
AND NOT EXISTS (
    SELECT 1 FROM flow_run r
    WHERE r.flow_id = CAST(n.flow_id AS UUID) AND r.idempotency_key = n.idempotency_key
)
"""
"""Runs already stored (same id, or same flow and idempotency key) are skipped with
anti-joins: much faster than ``ON CONFLICT`` on a large table (see _scheduled_runs)."""


def read_flow_run(session: Store, flow_run_id: UUID | str) -> FlowRun | None:
    """The flow run with this id, or ``None``."""
    return fetch_model(
        session.cursor(),
        FlowRun,
        "SELECT * FROM flow_run WHERE id = $id",
        {"id": UUID(str(flow_run_id))},
    )


def read_flow_runs(
    session: Store,
    flow_run_filter: FlowRunFilter | None = None,
    deployment_filter: DeploymentFilter | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> pl.DataFrame:
    """Flow runs matching the filters, by expected start time then id.

    Examples
    --------
    >>> from deploykit import Store
    >>> read_flow_runs(Store()).height
    0
    """
    flow_run_filter = coerce_filter(flow_run_filter, FlowRunFilter, "flow_run_filter")
    deployment_filter = coerce_filter(deployment_filter, DeploymentFilter, "deployment_filter")
    compiler = SqlCompiler()
    query = exp.select("fr.*").from_("flow_run AS fr").order_by("fr.expected_start_time", "fr.id")
    if flow_run_filter is not None:
        query = query.where(compiler.compile(flow_run_filter.as_predicate(), "fr"))
    if deployment_filter is not None:
        dep = (
            exp.select("1")
            .from_("deployment AS d")
            .where("d.id = fr.deployment_id")
            .where(compiler.compile(deployment_filter.as_predicate(), "d"))
        )
        query = query.where(exp.Exists(this=dep))
    if offset:
        query = query.offset(compiler.param(non_negative(offset, "offset")))
    if limit is not None:
        query = query.limit(compiler.param(non_negative(limit, "limit")))
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()
