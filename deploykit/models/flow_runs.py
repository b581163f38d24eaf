"""Flow run operations (Prefect's ``server/models/flow_runs.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import polars as pl
import sqlglot
from sqlglot import exp

from deploykit.filters import DeploymentFilter, FlowFilter, FlowRunFilter, WorkPoolFilter, WorkQueueFilter
from deploykit.models import _rollups
from deploykit.models._args import coerce_filter, coerce_model, non_negative
from deploykit.models._deployment_query import DEPLOYMENT_COLUMNS, exists
from deploykit.models._lookup import fetch_by_id
from deploykit.models._rows import fetch_model
from deploykit.models.writer import Writer, rows_frame, write_model
from deploykit.predicates import SqlCompiler
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import FlowRun
from deploykit.store import Store

_DEPLOYMENT_OF_RUN = sqlglot.parse_one("SELECT 1 FROM deployment AS d WHERE d.id = fr.deployment_id")
_FLOW_OF_RUN = sqlglot.parse_one("SELECT 1 FROM flow AS f WHERE f.id = fr.flow_id")
_QUEUE_OF_RUN = sqlglot.parse_one(
    "SELECT 1 FROM work_queue AS wq JOIN work_pool AS wp ON wp.id = wq.work_pool_id "
    "WHERE wq.id = fr.work_queue_id"
)


def create_flow_run(session: Store, flow_run: FlowRun | Mapping[str, Any]) -> FlowRun:
    """Create a flow run; with an ``idempotency_key`` already used for its flow, return that run.

    ``flow_run`` may be a dict of the model's fields; the row is written by the one
    writer (:mod:`deploykit.models.writer`).

    Raises
    ------
    IntegrityError
        ``flow_id`` names no flow, or the run's ``id`` is already used.

    Examples
    --------
    >>> from deploykit import Store, Flow
    >>> from deploykit.models.flows import create_flow
    >>> store = Store()
    >>> flow = create_flow(store, Flow(name="etl"))
    >>> a = create_flow_run(store, FlowRun(flow_id=flow.id, idempotency_key="k"))
    >>> create_flow_run(store, {"flow_id": flow.id, "idempotency_key": "k"}).id == a.id
    True
    """
    flow_run = coerce_model(flow_run, FlowRun, "flow_run")
    with session.transaction() as cur:
        if flow_run.idempotency_key is not None:
            existing = fetch_model(
                cur,
                FlowRun,
                "SELECT * FROM flow_run WHERE flow_id = $f AND idempotency_key = $k",
                {"f": flow_run.flow_id, "k": flow_run.idempotency_key},
            )
            if existing is not None:
                return existing
        write_model(Writer(cur), flow_run, source="create_flow_run", stamp=utc_now(), on_conflict="error")
        return read_flow_run(session, flow_run.id)  # type: ignore[return-value]


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
        numbered = pl.lit("run-") + pl.int_range(pl.len()).cast(pl.String)
        name = pl.coalesce(pl.col("name"), numbered) if "name" in flow_runs.columns else numbered
        frame = flow_runs.with_columns(name.alias("name"))
    else:
        frame = rows_frame(list(flow_runs), FlowRun)
    first = pl.lit(True)
    if "id" in frame.columns:
        first &= pl.col("id").is_null() | pl.col("id").is_first_distinct()
    if {"flow_id", "idempotency_key"} <= set(frame.columns):
        keyed = pl.struct("flow_id", "idempotency_key")
        first &= pl.col("idempotency_key").is_null() | keyed.is_first_distinct()
    with session.transaction() as cur:
        writer = Writer(cur)
        inserted, _ = writer.write(
            "flow_run", frame.filter(first), source="create_flow_runs", on_conflict="skip"
        )
        _rollups.settle(cur)
    return inserted


def read_flow_run(session: Store, flow_run_id: UUID | str) -> FlowRun | None:
    """The flow run with this id, or ``None``."""
    return fetch_by_id(session.cursor(), FlowRun, flow_run_id, "flow_run_id")


def read_flow_runs(
    session: Store,
    flow_run_filter: FlowRunFilter | Mapping[str, Any] | None = None,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    *,
    flow_filter: FlowFilter | Mapping[str, Any] | None = None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None = None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Flow runs matching the filters, by expected start time then id.

    As in Prefect's ``read_flow_runs``, ``deployment_filter`` tests the run's deployment,
    ``flow_filter`` its flow, ``work_queue_filter`` the queue its own ``work_queue_id``
    refers to and ``work_pool_filter`` that queue's pool; a run is listed when every
    given filter holds (one statement, an EXISTS subquery per related table).

    Parameters
    ----------
    session
        The store.
    flow_run_filter, deployment_filter, flow_filter, work_pool_filter, work_queue_filter
        Filter models or dicts of their fields; None: no restriction.
    limit, offset
        The page, after sorting.

    Returns
    -------
    polars.DataFrame
        Every column of ``flow_run``.

    Examples
    --------
    >>> from deploykit import Store, Flow, FlowRun
    >>> from deploykit.models.flows import create_flow
    >>> store = Store()
    >>> etl, ml = create_flow(store, Flow(name="etl")), create_flow(store, Flow(name="ml"))
    >>> _ = create_flow_runs(store, [FlowRun(flow_id=etl.id, name="a"), FlowRun(flow_id=ml.id, name="b")])
    >>> read_flow_runs(store, flow_filter={"name": {"any_": ["ml"]}})["name"].to_list()
    ['b']
    """
    compiler = SqlCompiler()

    def holds(value: Any, model: type, name: str, alias: str, **options: Any) -> exp.Expression | None:
        model_value = coerce_filter(value, model, name)
        return None if model_value is None else compiler.compile(model_value.as_predicate(), alias, **options)

    query = exp.select("fr.*").from_("flow_run AS fr").order_by("fr.expected_start_time", "fr.id")
    conditions = [
        holds(flow_run_filter, FlowRunFilter, "flow_run_filter", "fr"),
        exists(
            _DEPLOYMENT_OF_RUN,
            holds(deployment_filter, DeploymentFilter, "deployment_filter", "d", columns=DEPLOYMENT_COLUMNS),
        ),
        exists(_FLOW_OF_RUN, holds(flow_filter, FlowFilter, "flow_filter", "f")),
        exists(
            _QUEUE_OF_RUN,
            holds(work_queue_filter, WorkQueueFilter, "work_queue_filter", "wq"),
            holds(work_pool_filter, WorkPoolFilter, "work_pool_filter", "wp"),
        ),
    ]
    given = [c for c in conditions if c is not None]
    if given:
        query = query.where(*given)
    if offset is not None:
        query = query.offset(compiler.param(non_negative(offset, "offset")))
    if limit is not None:
        query = query.limit(compiler.param(non_negative(limit, "limit")))
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()
