"""Bulk upsert of deployments from a DataFrame or a list, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from duckdb import DuckDBPyConnection

from deploykit._errors import IntegrityError
from deploykit.models._bulk import models_to_frame, normalise_frame
from deploykit.models._rows import update_matched
from deploykit.models.work_queues import ensure_work_queue_exists
from deploykit.schemas._base import utc_now
from deploykit.schemas.core import Deployment
from deploykit.store import Store


def create_deployments(session: Store, deployments: pl.DataFrame | Sequence[Deployment]) -> int:
    """Upsert many deployments keyed on (flow_id, name) in one transaction.

    A DataFrame's columns are the fields written (missing ones take the model's
    defaults on insert and are left alone on update); a list of models writes every
    field. As with :func:`create_deployment`, existing rows keep ``id``, ``created`` and
    ``created_by``, queues named by ``work_queue_name`` are ensured and linked, and the
    updated deployments' auto-scheduled runs in SCHEDULED state are deleted.

    Returns
    -------
    int
        The number of deployments inserted or updated.

    Examples
    --------
    >>> import deploykit as dk
    >>> from deploykit.models.flows import create_flow
    >>> from deploykit.models.deployments import count_deployments
    >>> store = dk.Store()
    >>> flow = create_flow(store, dk.Flow(name="etl"))
    >>> frame = pl.DataFrame({"name": ["a", "b"], "flow_id": [str(flow.id)] * 2, "tags": [["x"], []]})
    >>> create_deployments(store, frame), count_deployments(store)
    (2, 2)
    """
    if isinstance(deployments, pl.DataFrame):
        given = set(deployments.columns)
        frame = normalise_frame(deployments, Deployment, required={"name", "flow_id"})
    else:
        given = set(Deployment.model_fields)
        frame = models_to_frame(list(deployments), Deployment)
    if frame.is_empty():
        return 0
    duplicates = frame.filter(pl.struct("flow_id", "name").is_duplicated())
    if duplicates.height:
        raise IntegrityError(
            f"deployment {duplicates['name'][0]!r} of flow {duplicates['flow_id'][0]} appears twice"
        )
    with session.transaction() as cur:
        cur.register("new_deployments", frame)
        try:
            missing = cur.execute(_MISSING_FLOWS).fetchall()
            if missing:
                raise IntegrityError(f"flow_id {missing[0][0]} does not refer to an existing flow")
            frame = _link_queues(session, frame, "work_queue_id" in given)
            cur.unregister("new_deployments")
            cur.register("new_deployments", frame)
            written = set(given) | {"work_queue_id"} if "work_queue_name" in given else set(given)
            updates = [c for c in frame.columns if c in written and c not in _KEEP_ON_UPSERT]
            rows = _upsert(cur, frame.columns, updates)
            deleted = cur.execute(_DELETE_AUTO_SCHEDULED).fetchall()
            if deleted:
                cur.execute(
                    "DELETE FROM task_run WHERE flow_run_id IN (SELECT unnest($ids))",
                    {"ids": [row[0] for row in deleted]},
                ).fetchall()
        finally:
            cur.unregister("new_deployments")
    return int(rows)


def _upsert(cur: DuckDBPyConnection, columns: list[str], updates: list[str]) -> int:
    """Update the deployments ``new_deployments`` names by (flow_id, name), insert the rest."""
    now = {"now": utc_now()}
    matched = update_matched(
        cur,
        "deployment",
        "new_deployments",
        _SAME_KEY,
        updates,
        value=_value,
        also=["updated = $now"],
        params=now,
    )
    selects = ", ".join(_bulk_select(c) for c in columns)
    inserted = cur.execute(
        f"INSERT INTO deployment ({', '.join(columns)}) SELECT {selects} FROM new_deployments AS s "
        f"ANTI JOIN deployment AS t ON {_SAME_KEY}",
        now,
    )
    return matched + inserted.fetchall()[0][0]


_SAME_KEY = "t.flow_id = CAST(s.flow_id AS UUID) AND t.name = s.name"


def _value(column: str) -> str:
    """A frame column as the deployment column's type (ids arrive as strings)."""
    return f"CAST(s.{column} AS UUID)" if column == "work_queue_id" else f"s.{column}"


_DELETE_AUTO_SCHEDULED = """
DELETE FROM flow_run WHERE auto_scheduled AND state_type = 'SCHEDULED' AND deployment_id IN (
    SELECT d.id FROM deployment d JOIN new_deployments n
    ON d.flow_id = CAST(n.flow_id AS UUID) AND d.name = n.name
)
RETURNING id
"""
_KEEP_ON_UPSERT = frozenset({"id", "created", "created_by", "updated", "flow_id", "name"})
"""Columns an upsert never overwrites: identity, creation, and the (flow_id, name) key it matched on."""
_MISSING_FLOWS = (
    "SELECT DISTINCT n.flow_id FROM new_deployments n "
    "ANTI JOIN flow f ON f.id = CAST(n.flow_id AS UUID) ORDER BY 1 LIMIT 1"
)


def _bulk_select(column: str) -> str:
    """How a frame column becomes a deployment column in the bulk insert."""
    if column == "id":
        return "coalesce(CAST(s.id AS UUID), uuid())"
    if column in ("created", "updated"):
        return "$now"
    return f"s.{column}"


def _link_queues(session: Store, frame: pl.DataFrame, ids_given: bool) -> pl.DataFrame:
    """Ensure each named queue exists and fill ``work_queue_id`` where the caller gave none."""
    names = frame.filter(pl.col("work_queue_name").is_not_null())["work_queue_name"].unique().to_list()
    if not names:
        return frame
    queue_ids = {name: str(ensure_work_queue_exists(session, name).id) for name in sorted(names)}
    looked_up = pl.col("work_queue_name").replace_strict(queue_ids, default=None, return_dtype=pl.String)
    if ids_given:
        looked_up = pl.coalesce(pl.col("work_queue_id"), looked_up)
    return frame.with_columns(looked_up.alias("work_queue_id"))
