"""Time the seed operations ``peer_bench.py`` leaves out, on Prefect 2.10's models (SQLite).

usage: <peer venv>/bin/python benchmarks/peer_extra.py N

Runs in the peer's virtual environment, never in deploykit's. Loads the shared
workload as ``peer_bench.py`` does, except that deployments are bulk-inserted into the
table (their creation is what ``peer_bench.py`` times; here it is only set-up), adds
the task runs of ``_common.task_runs``, then times read by id, read/count with each
filter family, update and delete with the same repetitions as ``dk_bench.py``. It also
runs ``schedule_runs`` per deployment like ``peer_bench.py`` and prints every
auto-scheduled run's key, so the runner can tell exactly which runs differ.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

_TMP = tempfile.mkdtemp()
os.environ["PREFECT_HOME"] = _TMP
os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{_TMP}/prefect.db"
os.environ["PREFECT_LOGGING_LEVEL"] = "ERROR"
warnings.filterwarnings("ignore")

import pendulum  # noqa: E402
from prefect.server import models, schemas  # noqa: E402
from prefect.server.database.dependencies import provide_database_interface  # noqa: E402
from prefect.server.schemas import filters as F  # noqa: E402

FAMILIES: dict[str, dict[str, Any]] = {
    "flow": {"flow_filter": F.FlowFilter(name=F.FlowFilterName(like_="flow-00"))},
    "flow_run": {
        "flow_run_filter": F.FlowRunFilter(
            state=F.FlowRunFilterState(type=F.FlowRunFilterStateType(any_=["FAILED"]))
        )
    },
    "task_run": {
        "task_run_filter": F.TaskRunFilter(
            state=F.TaskRunFilterState(type=F.TaskRunFilterStateType(any_=["FAILED"]))
        )
    },
    "deployment": {"deployment_filter": F.DeploymentFilter(tags=F.DeploymentFilterTags(all_=["prod"]))},
    "work_pool": {
        "work_pool_filter": F.WorkPoolFilter(name=F.WorkPoolFilterName(any_=["default-agent-pool"]))
    },
    "work_queue": {
        "work_queue_filter": F.WorkQueueFilter(name=F.WorkQueueFilterName(any_=["queue-01", "queue-02"]))
    },
}
"""The same filters as ``dk_bench.FAMILIES``, as Prefect 2.10 objects."""


def schedule(s: dict[str, Any] | None) -> Any:
    """The workload's schedule dict as a Prefect 2.10 schedule (as ``peer_bench.py`` does)."""
    if s is None:
        return None
    if "cron" in s:
        return schemas.schedules.CronSchedule(**s)
    if "interval" in s:
        return schemas.schedules.IntervalSchedule(
            interval=datetime.timedelta(seconds=s["interval"]),
            anchor_date=pendulum.parse(s["anchor_date"]),
            timezone=s["timezone"],
        )
    return schemas.schedules.RRuleSchedule(**s)


async def timed(fn: Any, reps: int) -> tuple[Any, dict[str, float]]:
    """``_common.timed`` for coroutines."""
    times = []
    result = None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return result, {"best": times[0], "median": times[len(times) // 2], "reps": reps}


async def once(fn: Any, count: int) -> tuple[Any, dict[str, float]]:
    """``_common.once`` for coroutines."""
    t0 = time.perf_counter()
    result = await fn()
    total = time.perf_counter() - t0
    return result, {"total": total, "per_op": total / max(count, 1), "count": count}


async def load(db: Any, s: Any, w: dict[str, Any]) -> None:
    """Flows and queues through the models, deployments, flow and task runs in bulk."""
    for f in w["flows"]:
        flow = schemas.core.Flow(id=f["id"], name=f["name"], tags=f["tags"])
        await models.flows.create_flow(session=s, flow=flow)
    for q in w["work_queues"]:
        queue_filter = schemas.core.QueueFilter(**q["filter"]) if q["filter"] else None
        await models.work_queues.create_work_queue(
            session=s,
            work_queue=schemas.actions.WorkQueueCreate(name=q["name"], filter=queue_filter),
        )
    deployments = [
        {
            "id": uuid.UUID(d["id"]),
            "name": d["name"],
            "flow_id": uuid.UUID(d["flow_id"]),
            "tags": d["tags"],
            "schedule": schedule(d["schedule"]),
            "is_schedule_active": d["is_schedule_active"],
            "work_queue_name": d["work_queue_name"],
            "parameters": d["parameters"],
        }
        for d in w["deployments"]
    ]
    await s.execute(db.Deployment.__table__.insert(), deployments)
    runs = [
        {
            "id": r["id"],
            "name": r["name"],
            "flow_id": r["flow_id"],
            "deployment_id": r["deployment_id"],
            "state_type": r["state_type"],
            "state_name": r["state_type"].title(),
            "tags": r["tags"],
            "expected_start_time": pendulum.parse(r["expected_start_time"]),
        }
        for r in w["flow_runs"]
    ]
    await s.execute(db.FlowRun.__table__.insert(), runs)
    await s.execute(db.TaskRun.__table__.insert(), C.task_runs(w["flow_runs"]))


async def reads(s: Any, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> None:
    """Read by id, then read and count with each filter family."""
    sample = w["deployments"][: C.EXTRA_SAMPLE]

    async def by_id() -> list[Any]:
        return [
            await models.deployments.read_deployment(session=s, deployment_id=uuid.UUID(d["id"]))
            for d in sample
        ]

    found, t["read_by_id_200"] = await once(by_id, len(sample))
    out["read_by_id_found"] = sum(d is not None for d in found)
    reps = C.family_reps(len(w["deployments"]))
    for family, kwargs in FAMILIES.items():
        rows, t[f"read_{family}"] = await timed(
            lambda kw=kwargs: models.deployments.read_deployments(session=s, **kw), reps
        )
        count, t[f"count_{family}"] = await timed(
            lambda kw=kwargs: models.deployments.count_deployments(session=s, **kw), reps
        )
        out[f"read_{family}"] = C.fingerprint([str(d.id) for d in rows])
        out[f"read_{family}_n"] = len(rows)
        out[f"count_{family}"] = count


async def scheduling(db: Any, s: Any, w: dict[str, Any], t: dict[str, Any]) -> list[str]:
    """``schedule_runs`` per deployment as ``peer_bench.py``; every auto-scheduled run's key."""
    start = pendulum.parse(C.SCHEDULE_START)

    async def each() -> int:
        total = 0
        for d in w["deployments"]:
            ids = await models.deployments.schedule_runs(
                session=s, deployment_id=uuid.UUID(d["id"]), start_time=start
            )
            total += len(ids)
        return total

    _, t["schedule_runs_all"] = await once(each, len(w["deployments"]))
    rows = await s.execute(db.FlowRun.__table__.select().where(db.FlowRun.auto_scheduled.is_(True)))
    return sorted(
        f"{r.deployment_id} {pendulum.instance(r.expected_start_time).in_tz('UTC').isoformat()}" for r in rows
    )


async def writes(s: Any, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> None:
    """update_deployment then delete_deployment on the first deployments."""
    sample = [uuid.UUID(d["id"]) for d in w["deployments"][: C.EXTRA_SAMPLE]]
    update = schemas.actions.DeploymentUpdate(description="benchmarked", tags=["bench"])

    async def update_each() -> list[bool]:
        return [
            await models.deployments.update_deployment(session=s, deployment_id=i, deployment=update)
            for i in sample
        ]

    async def delete_each() -> list[bool]:
        return [await models.deployments.delete_deployment(session=s, deployment_id=i) for i in sample]

    updated, t["update_200"] = await once(update_each, len(sample))
    deleted, t["delete_200"] = await once(delete_each, len(sample))
    out["update_true"] = sum(updated)
    out["delete_true"] = sum(deleted)
    out["count_after_delete"] = await models.deployments.count_deployments(session=s)


async def main(n: int) -> dict[str, Any]:
    """Every timing at ``n`` deployments; the JSON document printed."""
    w = C.load_workload().make(n)
    db = provide_database_interface()
    await db.create_db()
    t: dict[str, Any] = {}
    out: dict[str, Any] = {}
    async with db.session_context(begin_transaction=True) as s:
        await load(db, s, w)
    async with db.session_context(begin_transaction=True) as s:
        await reads(s, w, t, out)
        keys = await scheduling(db, s, w, t)
        out["scheduled_total"] = len(keys)
        out["scheduled_fingerprint"] = C.fingerprint(keys)
        await writes(s, w, t, out)
    seconds = {k: v.get("best", v.get("total")) for k, v in t.items()}
    return {
        "n": n,
        "seconds": seconds,
        "stats": t,
        "results": out,
        "keys": keys,
        "rss_mib": C.peak_rss_mib(),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)), indent=1))
