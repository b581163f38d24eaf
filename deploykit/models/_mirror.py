"""Deleting the rows a source no longer has: a sync's deletes, written here with every other write.

A sync (:mod:`deploykit.io`) finds which stored ids its source lacks and puts them in a
temporary table per store table; :func:`delete_gone` deletes those rows the way
Prefect's own foreign keys would have in the source, and :func:`delete_deferred` the
work pools and queues that must wait for the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from deploykit.models._rollups import mark_query
from deploykit.store import Store

SET_NULL: tuple[tuple[str, str, str], ...] = (
    ("deployment", "work_queue_id", "work_queue"),
    ("flow_run", "work_queue_id", "work_queue"),
    ("flow_run", "parent_task_run_id", "task_run"),
)
"""``(table, column, parent)``: Prefect's ``ON DELETE SET NULL`` foreign keys. Deleting the
parent clears the column in the source without stamping ``updated``, so the rows that
survive have it cleared here too (the cascading keys delete the rows themselves, which
the sync's id comparison finds)."""

KEY_TARGETS = ("work_queue", "work_pool")
"""Tables DuckDB foreign keys point at, children first. DuckDB checks a deletion against
the referencing rows as they were when the transaction began, so a pool or queue whose
references this transaction cleared or deleted is deleted in a transaction of its own,
after it (:func:`delete_deferred`; should that fail, the next sync deletes it)."""


def delete_gone(
    cur: duckdb.DuckDBPyConnection, tables: Sequence[str], gone: Mapping[str, str]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Delete the rows of each table whose ids the temporary table ``gone[table]`` holds.

    ``tables`` are ordered parents first. References to a deleted row from surviving
    rows are cleared first (:data:`SET_NULL`), the deleted runs' deployments get their
    run-history rollups recomputed, then rows are deleted children first. Returns the
    rows deleted per table (pools and queues included), and the ids of the pools and
    queues to delete once this transaction is committed (:func:`delete_deferred`).
    """
    counts = {t: cur.execute(f"SELECT count(*) FROM {gone[t]}").fetchall()[0][0] for t in tables}
    if any(counts.values()):
        for table, column, parent in SET_NULL:
            if counts.get(parent) and table in gone:
                cur.execute(
                    f"UPDATE {table} SET {column} = NULL WHERE {column} IN (SELECT id FROM {gone[parent]}) "
                    f"AND id NOT IN (SELECT id FROM {gone[table]})"
                )
        for table in reversed(tables):
            if counts[table] and table not in KEY_TARGETS:
                if table == "flow_run":  # their deployments' run-history rollups
                    mark_query(
                        cur, f"SELECT deployment_id FROM flow_run WHERE id IN (SELECT id FROM {gone[table]})"
                    )
                cur.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {gone[table]})")
    deferred = {
        t: [str(r[0]) for r in cur.execute(f"SELECT id FROM {gone[t]}").fetchall()]
        for t in KEY_TARGETS
        if counts.get(t)
    }
    return counts, deferred


def delete_deferred(store: Store, deferred: Mapping[str, list[str]]) -> None:
    """Delete the pools and queues :func:`delete_gone` left for after its commit, each table in
    a transaction of its own (queues first: pools are their parents)."""
    for table in KEY_TARGETS:
        if deferred.get(table):
            with store.transaction() as cur:
                cur.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT CAST(unnest($ids) AS UUID))",
                    {"ids": deferred[table]},
                )
