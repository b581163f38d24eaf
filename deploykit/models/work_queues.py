"""Work queue operations (Prefect's ``server/models/work_queues.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import polars as pl
from sqlglot import exp

from deploykit._errors import IntegrityError, ObjectNotFoundError
from deploykit.filters import WorkQueueFilter
from deploykit.models._args import as_name, coerce_filter, coerce_model
from deploykit.models._lookup import fetch_by_id
from deploykit.models._rows import fetch_model
from deploykit.models.work_pools import DEFAULT_POOL_NAME, ensure_default_work_pool, read_work_pool
from deploykit.models.writer import Writer, write_model
from deploykit.predicates import SqlCompiler
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import WorkQueue
from deploykit.store import Store


def create_work_queue(session: Store, work_queue: WorkQueue | Mapping[str, Any]) -> WorkQueue:
    """Create a queue in its pool (the ``default-agent-pool`` unless ``work_pool_id`` is set).

    ``work_queue`` may be a dict of the model's fields; the row is written by the one
    writer (:mod:`deploykit.models.writer`).

    Raises
    ------
    ObjectNotFoundError
        ``work_pool_id`` names no pool.
    IntegrityError
        The pool has a queue of that name, or the queue's ``id`` is already used.

    Examples
    --------
    >>> from deploykit import Store
    >>> q = create_work_queue(Store(), {"name": "etl", "filter": {"tags": ["etl"]}})
    >>> q.filter.tags
    ['etl']
    """
    work_queue = coerce_model(work_queue, WorkQueue, "work_queue")
    now = utc_now()
    with session.transaction() as cur:
        if work_queue.work_pool_id is None:
            pool_id = ensure_default_work_pool(session).id
        elif read_work_pool(session, work_queue.work_pool_id) is None:
            raise ObjectNotFoundError(f"work pool {work_queue.work_pool_id} does not exist")
        else:
            pool_id = work_queue.work_pool_id
        clash = cur.execute(
            "SELECT 1 FROM work_queue WHERE work_pool_id = $p AND name = $n",
            {"p": pool_id, "n": work_queue.name},
        ).fetchall()
        if clash:
            raise IntegrityError(f"work pool {pool_id} already has a queue named {work_queue.name!r}")
        queue = work_queue.model_copy(update={"work_pool_id": pool_id})
        write_model(Writer(cur), queue, source="create_work_queue", stamp=now, on_conflict="error")
        return read_work_queue(session, queue.id)  # type: ignore[return-value]


def read_work_queue(session: Store, work_queue_id: UUID | str) -> WorkQueue | None:
    """The queue with this id, or ``None``."""
    return fetch_by_id(session.cursor(), WorkQueue, work_queue_id, "work_queue_id")


def read_work_queue_by_name(session: Store, name: str, work_pool_name: str | None = None) -> WorkQueue | None:
    """A queue by name: in the given pool, else in any pool with the default pool first.

    Queue names repeat across pools, so give ``work_pool_name`` when it matters.
    """
    return fetch_model(
        session.cursor(),
        WorkQueue,
        """
        SELECT q.* FROM work_queue q JOIN work_pool p ON p.id = q.work_pool_id
        WHERE q.name = $name AND ($pool IS NULL OR p.name = $pool)
        ORDER BY p.name = $default DESC, q.created, q.id
        LIMIT 1
        """,
        {
            "name": as_name(name, "name"),
            "pool": None if work_pool_name is None else as_name(work_pool_name, "work_pool_name"),
            "default": DEFAULT_POOL_NAME,
        },
    )


def ensure_work_queue_exists(session: Store, name: str) -> WorkQueue:
    """The queue named ``name`` (any pool, default pool first), created in the default pool if none."""
    with session.transaction():
        ensure_default_work_pool(session)  # which may create the queue asked for: "default"
        queue = read_work_queue_by_name(session, name)
        if queue is None:
            queue = create_work_queue(session, WorkQueue(name=name))
        return queue


def read_work_queues(session: Store, work_queue_filter: WorkQueueFilter | None = None) -> pl.DataFrame:
    """Work queues matching the filter, with their pool's name, ordered by pool, priority, name.

    Examples
    --------
    >>> from deploykit import Store
    >>> store = Store()
    >>> _ = create_work_queue(store, WorkQueue(name="etl"))
    >>> read_work_queues(store)["name"].to_list()
    ['default', 'etl']
    """
    work_queue_filter = coerce_filter(work_queue_filter, WorkQueueFilter, "work_queue_filter")
    compiler = SqlCompiler()
    query = (
        exp.select("q.*", "p.name AS work_pool_name")
        .from_("work_queue AS q")
        .join("work_pool AS p", on="p.id = q.work_pool_id")
        .where(compiler.compile((work_queue_filter or WorkQueueFilter()).as_predicate(), "q"))
        .order_by("p.name", "q.priority", "q.name", "q.id")
    )
    return session.cursor().sql(query.sql("duckdb"), params=compiler.params or None).pl()
