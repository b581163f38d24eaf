"""Work pool operations (Prefect's ``server/models/workers.py``, pool half)."""

from __future__ import annotations

from uuid import UUID, uuid4

from deploykit._errors import IntegrityError
from deploykit.models._rows import fetch_model, insert_sql, to_row
from deploykit.schemas._base import utc_now
from deploykit.schemas.core import WorkPool, WorkQueue
from deploykit.store import Store

DEFAULT_POOL_NAME = "default-agent-pool"
DEFAULT_POOL_TYPE = "prefect-agent"
DEFAULT_QUEUE_NAME = "default"


def create_work_pool(session: Store, work_pool: WorkPool) -> WorkPool:
    """Create a pool and its ``default`` queue; ``default_queue_id`` points at that queue.

    Examples
    --------
    >>> from deploykit import Store
    >>> pool = create_work_pool(Store(), WorkPool(name="k8s", type="kubernetes"))
    >>> pool.default_queue_id is not None
    True
    """
    now = utc_now()
    with session.transaction() as cur:
        if cur.execute("SELECT 1 FROM work_pool WHERE name = $n", {"n": work_pool.name}).fetchall():
            raise IntegrityError(f"a work pool named {work_pool.name!r} already exists")
        queue_id = uuid4()
        row = to_row(work_pool) | {"created": now, "updated": now, "default_queue_id": queue_id}
        cur.execute(insert_sql("work_pool", row), row)
        queue = WorkQueue(
            id=queue_id,
            name=DEFAULT_QUEUE_NAME,
            work_pool_id=work_pool.id,
            description="The work pool's default queue.",
        )
        qrow = to_row(queue) | {"created": now, "updated": now}
        cur.execute(insert_sql("work_queue", qrow), qrow)
        return read_work_pool(session, work_pool.id)  # type: ignore[return-value]


def read_work_pool(session: Store, work_pool_id: UUID | str) -> WorkPool | None:
    """The pool with this id, or ``None``."""
    return fetch_model(
        session.cursor(),
        WorkPool,
        "SELECT * FROM work_pool WHERE id = $id",
        {"id": UUID(str(work_pool_id))},
    )


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
    return fetch_model(session.cursor(), WorkPool, "SELECT * FROM work_pool WHERE name = $n", {"n": name})


def ensure_default_work_pool(session: Store) -> WorkPool:
    """The ``default-agent-pool``, created (with its ``default`` queue) on first need."""
    with session.transaction():
        pool = read_work_pool_by_name(session, DEFAULT_POOL_NAME)
        if pool is None:
            pool = create_work_pool(session, WorkPool(name=DEFAULT_POOL_NAME, type=DEFAULT_POOL_TYPE))
        return pool
