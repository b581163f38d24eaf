"""Work pool operations (Prefect's ``server/models/workers.py``, pool half)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from deploykit._errors import IntegrityError
from deploykit.models._args import coerce_model
from deploykit.models._lookup import fetch_by_id, fetch_by_name
from deploykit.models.writer import Writer, write_model
from deploykit.schemas.base import utc_now
from deploykit.schemas.core import WorkPool, WorkQueue
from deploykit.store import Store

DEFAULT_POOL_NAME = "default-agent-pool"
DEFAULT_POOL_TYPE = "prefect-agent"
DEFAULT_QUEUE_NAME = "default"


def create_work_pool(session: Store, work_pool: WorkPool | Mapping[str, Any]) -> WorkPool:
    """Create a pool and its ``default`` queue; ``default_queue_id`` points at that queue.

    ``work_pool`` may be a dict of the model's fields. Both rows are written by the one
    writer (:mod:`deploykit.models.writer`).

    Raises
    ------
    IntegrityError
        A pool of that name exists, or the pool's ``id`` is already used.

    Examples
    --------
    >>> from deploykit import Store
    >>> pool = create_work_pool(Store(), {"name": "k8s", "type": "kubernetes"})
    >>> pool.default_queue_id is not None
    True
    """
    work_pool = coerce_model(work_pool, WorkPool, "work_pool")
    now = utc_now()
    with session.transaction() as cur:
        if cur.execute("SELECT 1 FROM work_pool WHERE name = $n", {"n": work_pool.name}).fetchall():
            raise IntegrityError(f"a work pool named {work_pool.name!r} already exists")
        pool = work_pool.model_copy(update={"default_queue_id": uuid4()})
        queue = WorkQueue(
            id=pool.default_queue_id,
            name=DEFAULT_QUEUE_NAME,
            work_pool_id=pool.id,
            description="The work pool's default queue.",
        )
        writer = Writer(cur)
        write_model(writer, pool, source="create_work_pool", stamp=now, on_conflict="error")
        write_model(writer, queue, source="create_work_pool", stamp=now, on_conflict="error")
        writer.finish("create_work_pool")
        return read_work_pool(session, pool.id)  # type: ignore[return-value]


def read_work_pool(session: Store, work_pool_id: UUID | str) -> WorkPool | None:
    """The pool with this id, or ``None``."""
    return fetch_by_id(session.cursor(), WorkPool, work_pool_id, "work_pool_id")


def read_work_pool_by_name(session: Store, name: str) -> WorkPool | None:
    """The pool with this name, or ``None``.

    Examples
    --------
    >>> from deploykit import Store
    >>> store = Store()
    >>> read_work_pool_by_name(store, DEFAULT_POOL_NAME) is None
    True
    >>> ensure_default_work_pool(store).name
    'default-agent-pool'
    """
    return fetch_by_name(session.cursor(), WorkPool, "work_pool", name)


def ensure_default_work_pool(session: Store) -> WorkPool:
    """The ``default-agent-pool``, created (with its ``default`` queue) on first need."""
    with session.transaction():
        pool = read_work_pool_by_name(session, DEFAULT_POOL_NAME)
        if pool is None:
            pool = create_work_pool(session, WorkPool(name=DEFAULT_POOL_NAME, type=DEFAULT_POOL_TYPE))
        return pool
