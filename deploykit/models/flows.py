"""Flow operations (Prefect's ``server/models/flows.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import polars as pl
from sqlglot import exp

from deploykit.filters import FlowFilter
from deploykit.models._args import coerce_filter, coerce_model
from deploykit.models._lookup import fetch_by_id, fetch_by_name
from deploykit.models.writer import Writer, write_model
from deploykit.predicates import SqlCompiler
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import Flow
from deploykit.store import Store


def create_flow(session: Store, flow: Flow | Mapping[str, Any]) -> Flow:
    """Create a flow, or return the existing flow of that name unchanged (Prefect's upsert).

    ``flow`` may be a dict of the model's fields. Written by the one writer
    (:mod:`deploykit.models.writer`).

    Raises
    ------
    IntegrityError
        The flow's ``id`` is already used by a flow of another name.

    Examples
    --------
    >>> from deploykit import Store
    >>> store = Store()
    >>> a = create_flow(store, Flow(name="etl"))
    >>> create_flow(store, {"name": "etl", "tags": ["x"]}).id == a.id
    True
    """
    flow = coerce_model(flow, Flow, "flow")
    with session.transaction() as cur:
        write_model(Writer(cur), flow, source="create_flow", stamp=utc_now(), key=("name",), update=())
        return read_flow_by_name(session, flow.name)  # type: ignore[return-value]


def read_flow(session: Store, flow_id: UUID | str) -> Flow | None:
    """The flow with this id, or ``None``."""
    return fetch_by_id(session.cursor(), Flow, flow_id, "flow_id")


def read_flow_by_name(session: Store, name: str) -> Flow | None:
    """The flow with this name, or ``None``."""
    return fetch_by_name(session.cursor(), Flow, "flow", name)


def read_flows(session: Store, flow_filter: FlowFilter | None = None) -> pl.DataFrame:
    """Flows matching the filter (a model or a dict), by name.

    The views' way to name flows (dropdown choices, ``flow/deployment`` labels) without SQL.

    Examples
    --------
    >>> from deploykit import Store
    >>> store = Store()
    >>> etl = create_flow(store, Flow(name="etl"))
    >>> _ = create_flow(store, Flow(name="backup"))
    >>> read_flows(store)["name"].to_list()
    ['backup', 'etl']
    >>> read_flows(store, {"id": {"any_": [etl.id]}})["name"].to_list()
    ['etl']
    """
    flow_filter = coerce_filter(flow_filter, FlowFilter, "flow_filter")
    compiler = SqlCompiler()
    query = (
        exp.select("f.*")
        .from_("flow AS f")
        .where(compiler.compile((flow_filter or FlowFilter()).as_predicate(), "f"))
        .order_by("f.name", "f.id")
    )
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()
