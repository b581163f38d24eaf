"""Keeping the run-history rollups true: every write or delete of flow runs marks the
deployments it touches as stale, in the writer's transaction.

``deploykit.history`` reads the rollups of the other deployments and computes the stale
ones from their runs, so its answers are exact whatever is marked. Once
:data:`STALE_LIMIT` deployments are stale, the rollups are recomputed (one scan of the
stale deployments' runs and a rewrite of the day rollup in order): single-run writes
cost a mark each, a bulk write one recomputation at its end (:func:`settle`, which
``Writer.finish`` calls).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from deploykit.store import REFRESH_SQL, table_columns

STALE_LIMIT = 1000
"""How many stale deployments :func:`settle` lets the readers compute from their runs."""


def mark_ids(cur: duckdb.DuckDBPyConnection, deployment_ids: Iterable[Any]) -> None:
    """Mark these deployments (ids; None is skipped) stale."""
    ids = sorted({str(i) for i in deployment_ids if i is not None})
    if ids:
        mark_query(cur, "SELECT CAST(unnest($_dk_ids) AS UUID)", {"_dk_ids": ids})


def mark_query(cur: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | None = None) -> None:
    """Mark stale the deployment ids ``query`` (one column) gives."""
    used = set(re.findall(r"\$(\w+)", query))
    cur.execute(
        "INSERT OR IGNORE INTO run_rollup_stale "
        f"SELECT DISTINCT d FROM ({query}) AS t(d) WHERE d IS NOT NULL",
        {k: v for k, v in (params or {}).items() if k in used} or None,
    )


def mark_runs(cur: duckdb.DuckDBPyConnection, source: str, key: tuple[str, ...] = ("id",)) -> None:
    """Mark stale the deployments of the stored runs that the rows of relation ``source``
    match on ``key``, and the deployments ``source`` names (before it is written)."""
    columns = {row[0] for row in cur.execute(f"DESCRIBE {source}").fetchall()}
    types = {c.name: c.type for c in table_columns("flow_run")}
    if key and set(key) <= columns:
        on = " AND ".join(f"fr.{k} = TRY_CAST(s.{k} AS {types[k]})" for k in key)
        mark_query(cur, f"SELECT fr.deployment_id FROM flow_run AS fr JOIN {source} AS s ON {on}")
    if "deployment_id" in columns:
        mark_query(cur, f"SELECT TRY_CAST(deployment_id AS UUID) FROM {source}")


def settle(cur: duckdb.DuckDBPyConnection) -> None:
    """Recompute the rollups once :data:`STALE_LIMIT` deployments are stale."""
    stale = cur.execute("SELECT count(*) FROM run_rollup_stale").fetchall()[0][0]
    if stale and stale >= STALE_LIMIT:
        cur.execute(REFRESH_SQL)
