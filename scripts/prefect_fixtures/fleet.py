"""Build, dump and preview a deterministic Prefect fleet. Runs INSIDE a Prefect venv.

Started by make.py with PREFECT_API_URL pointing at a real server of the venv's
release (2.14, 2.20 or 3.x; 2.10 only for `preview`):

    python fleet.py build                         # work pools, queues, flows, deployments, runs
    python fleet.py dump --out DIR                # api-*.json + expected-preview.json
    python fleet.py preview --deployments api-deployments.json --out expected-preview.json

Everything goes through Prefect's own client (get_client / PrefectClient); the few
endpoints the client has no method for (POST /deployments/{id}/schedule, the
filter endpoints with paging) go through that client's own HTTP client.
Fixed names; schedule anchors and flow-run times relative to 2026-11-01T00:00Z.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import inspect
import json
import sys
import time
import uuid
from pathlib import Path

import prefect
from prefect import flow, get_client, task

VERSION = prefect.__version__
MAJOR, MINOR = (int(p) for p in VERSION.split(".")[:2])
V2 = MAJOR == 2
MULTI_SCHEDULES = MAJOR >= 3 or (V2 and MINOR >= 18)  # DeploymentSchedule rows + `active`
PAUSED_FIELD = MAJOR >= 3 or (V2 and MINOR >= 19)  # deployment.paused
BASE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PREVIEW_START = dt.datetime(2026, 10, 29, tzinfo=dt.UTC)  # window holds New York's DST end
PREVIEW_DAYS = 7
PREVIEW_N = 1000


def log(msg: str) -> None:
    print(f"[fleet {VERSION} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def dump_model(m) -> dict:
    if hasattr(m, "model_dump"):
        return m.model_dump(mode="json")
    return json.loads(m.json())


def validate(cls, data: dict):
    if hasattr(cls, "model_validate"):
        return cls.model_validate(data)
    return cls.parse_obj(data)


def kwargs_for(fn, **kw) -> dict:
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kw.items() if k in params and v is not None}


# -- the fleet -----------------------------------------------------------------
# Schedules as plain dicts, in the REST shape every release accepts.
S = {
    "A": {"cron": "0 9 * * *", "timezone": "America/New_York"},
    "B": {"cron": "*/30 * * * *", "timezone": "Europe/Berlin"},
    "C": {"cron": "0 2 * * 1-5", "timezone": "UTC"},
    "D": {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    "E": {"cron": "0 1-3 * * *", "timezone": "America/New_York"},
    "F": {"interval": 3600, "anchor_date": "2026-11-01T09:00:00", "timezone": "Europe/Berlin"},
    "G": {"interval": 86400, "anchor_date": "2026-11-01T00:30:00", "timezone": "America/New_York"},
    "H": {"interval": 900, "anchor_date": "2026-11-01T00:00:00+00:00", "timezone": "UTC"},
    "I": {
        "rrule": "DTSTART:20261101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9,17",
        "timezone": "America/New_York",
    },
    "J": {"rrule": "DTSTART:20261101T060000\nRRULE:FREQ=DAILY;INTERVAL=2", "timezone": "Europe/Berlin"},
    "K": {"cron": "0 12 * * *", "timezone": "Asia/Tokyo"},
    "L": {"cron": "0 8 1-7 * MON", "timezone": "Australia/Sydney", "day_or": False},
}

POOLS = [
    # name, type, paused, concurrency, description
    ("proc-pool", "process", False, 5, "local processes"),
    ("k8s-pool", "kubernetes", False, None, "a kubernetes pool (no worker ever runs)"),
    ("paused-pool", "process", True, 1, "paused on purpose"),
]
QUEUES = [
    # name, pool, paused, concurrency, priority
    ("high", "proc-pool", False, 10, 1),
    ("low", "proc-pool", False, None, 5),
    ("gpu", "k8s-pool", True, 2, 2),
    ("batch", "k8s-pool", False, None, 3),
    ("late-night", "paused-pool", False, None, 2),
]
LEGACY_QUEUES = [  # 2.x only: tag-filtered queues (no pool -> default-agent-pool)
    ("legacy-ml", ["ml"]),
    ("legacy-etl-nightly", ["etl", "nightly"]),
]
STANDALONE_QUEUES = [("agent-paused", True), ("agent-default-2", False)]  # in default-agent-pool

DEPLOYMENT_FLOWS = ["etl", "train-model", "report", "ingest"]

# name, flow, schedules [(key, active, per-schedule params)], paused, pool, queue, tags, params,
# job_variables, concurrency_limit
DEPLOYMENTS = [
    ("d00-manual", "etl", [], False, "proc-pool", "high", ["etl"], {"n": 0}, {}, None),
    (
        "d01-ny-daily",
        "etl",
        [("A", True, None)],
        False,
        "proc-pool",
        "default",
        ["etl", "nightly"],
        {"n": 1, "mode": "full"},
        {"env": {"MODE": "full"}},
        None,
    ),
    (
        "d02-berlin-30min",
        "train-model",
        [("B", True, None)],
        False,
        "k8s-pool",
        "gpu",
        ["ml"],
        {"epochs": 3},
        {"image": "repo/train:1", "namespace": "ml"},
        None,
    ),
    ("d03-utc-weekdays", "report", [("C", True, None)], False, "proc-pool", "low", [], {}, {}, None),
    (
        "d04-berlin-hourly",
        "ingest",
        [("F", True, None)],
        False,
        "k8s-pool",
        "batch",
        ["ingest"],
        {"source": "s3"},
        {},
        None,
    ),
    (
        "d05-ny-rrule",
        "report",
        [("I", True, None)],
        False,
        "proc-pool",
        "default",
        ["report", "critical"],
        {},
        {},
        None,
    ),
    (
        "d06-two",
        "etl",
        [("A", True, None), ("F", True, None)],
        False,
        "proc-pool",
        "high",
        ["etl"],
        {"n": 6},
        {},
        None,
    ),
    (
        "d07-three",
        "ingest",
        [("B", True, None), ("H", True, None), ("J", True, None)],
        False,
        "k8s-pool",
        "default",
        ["ingest", "ml"],
        {"source": "gcs"},
        {"cpu": 2},
        None,
    ),
    (
        "d08-paused",
        "train-model",
        [("D", True, None)],
        True,
        "k8s-pool",
        "gpu",
        ["ml", "nightly"],
        {"epochs": 10},
        {},
        None,
    ),
    ("d09-ny-dst", "etl", [("E", True, None)], False, "proc-pool", "low", ["etl"], {"n": 9}, {}, None),
    ("d10-inactive", "report", [("G", False, None)], False, "proc-pool", "default", [], {}, {}, None),
    (
        "d11-tokyo-sydney",
        "ingest",
        [("K", True, None), ("L", False, None)],
        False,
        "k8s-pool",
        "batch",
        ["ingest"],
        {},
        {},
        None,
    ),
    (
        "d12-berlin-rrule",
        "train-model",
        [("J", True, None)],
        False,
        "k8s-pool",
        "default",
        ["ml"],
        {"epochs": 1},
        {},
        None,
    ),
    ("d13-sydney", "report", [("L", True, None)], False, "proc-pool", "high", ["report"], {}, {}, None),
    (
        "d14-limited",
        "etl",
        [],
        False,
        "proc-pool",
        "high",
        ["etl", "critical"],
        {"n": 14},
        {"env": {"LIMITED": "1"}},
        2,
    ),
    (
        "d15-utc-15min",
        "ingest",
        [("H", True, {"source": "kafka"})],
        False,
        "proc-pool",
        "default",
        ["ingest"],
        {"source": "s3"},
        {},
        None,
    ),
    (
        "d16-paused-two",
        "etl",
        [("A", True, None), ("C", False, None)],
        True,
        "proc-pool",
        "low",
        ["etl"],
        {"n": 16},
        {},
        None,
    ),
    (
        "d17-ny-rrule-2",
        "report",
        [("I", True, {"fmt": "pdf"}), ("K", True, {"fmt": "html"})],
        False,
        "proc-pool",
        "low",
        ["report"],
        {"fmt": "csv"},
        {},
        1,
    ),
    (
        "d18-paused-pool",
        "train-model",
        [("C", True, None)],
        False,
        "paused-pool",
        "late-night",
        ["ml"],
        {},
        {},
        None,
    ),
    ("d19-tokyo", "ingest", [("K", True, None)], False, "k8s-pool", "batch", [], {}, {}, None),
]

# states driven onto deployment flow runs: each deployment gets a rotating slice of these
RUN_STATES = [
    "COMPLETED",
    "FAILED",
    "CRASHED",
    "CANCELLED",
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "LATE",
    "COMPLETED",
    "SCHEDULED",
]


# -- flows executed in-process (real engine, real task runs) --------------------
def cache_on_n(context, parameters):
    return f"extract-{parameters['n']}"


@task(cache_key_fn=cache_on_n, tags=["io"])
def extract(n: int) -> list:
    return list(range(n))


@task(retries=1, retry_delay_seconds=0)
def transform(rows: list, factor: int = 2) -> list:
    return [r * factor for r in rows]


@task
def load(rows: list) -> int:
    return sum(rows)


@task
def explode(x: int) -> int:
    raise ValueError(f"task failed on purpose ({x})")


@flow(name="etl-sub")
def etl_sub(total: int) -> int:
    return load(transform([total], factor=1))


@flow(name="etl")
def etl(n: int = 3, mode: str = "full") -> int:
    rows = extract(n)
    doubled = transform(rows)
    total = load(doubled)
    return etl_sub(total)


@flow(name="flaky")
def flaky(x: int = 1) -> int:
    ok = load([x])
    explode(ok)  # raises -> the task run and the flow run FAIL
    return ok


# -- build -----------------------------------------------------------------------
def schedule_obj(key: str):
    from prefect.client.schemas import schedules as sch

    d = dict(S[key])
    cls = sch.CronSchedule if "cron" in d else sch.IntervalSchedule if "interval" in d else sch.RRuleSchedule
    if "interval" in d:
        d["interval"] = dt.timedelta(seconds=d["interval"])
    return validate(cls, d)


async def build() -> None:
    from prefect import states as st
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        # work pools
        for name, typ, paused, limit, desc in POOLS:
            wp = validate(
                WorkPoolCreate,
                {
                    k: v
                    for k, v in dict(
                        name=name,
                        type=typ,
                        is_paused=paused,
                        concurrency_limit=limit,
                        description=desc,
                    ).items()
                    if v is not None
                },
            )
            await client.create_work_pool(work_pool=wp)
        log("work pools made")
        # work queues in pools
        for name, pool, paused, limit, prio in QUEUES:
            await client.create_work_queue(
                **kwargs_for(
                    client.create_work_queue,
                    name=name,
                    work_pool_name=pool,
                    is_paused=paused,
                    concurrency_limit=limit,
                    priority=prio,
                    description=f"{name} in {pool}",
                )
            )
        for name, paused in STANDALONE_QUEUES:
            await client.create_work_queue(
                **kwargs_for(client.create_work_queue, name=name, is_paused=paused)
            )
        if V2:
            for name, tags in LEGACY_QUEUES:
                await client.create_work_queue(name=name, tags=tags, description="legacy tag filter")
        log("work queues made")

        # flows
        flow_ids = {}
        for name in DEPLOYMENT_FLOWS:
            flow_ids[name] = await client.create_flow_from_name(name)

        # deployments
        dep_ids = {}
        if MULTI_SCHEDULES:
            from prefect.client.schemas.actions import DeploymentScheduleCreate
        for name, fname, scheds, paused, pool, queue, tags, params, jobvars, climit in DEPLOYMENTS:
            kw = dict(
                flow_id=flow_ids[fname],
                name=name,
                version=f"1.{len(dep_ids)}",
                description=f"{name} ({fname})",
                parameters=params,
                tags=tags,
                work_pool_name=pool,
                work_queue_name=queue,
                path="/opt/flows",
                entrypoint=f"flows/{fname.replace('-', '_')}.py:main",
                enforce_parameter_schema=False,
            )
            if MULTI_SCHEDULES:
                kw["schedules"] = []
                for key, active, sparams in scheds:
                    sc = dict(schedule=schedule_obj(key), active=active)
                    if MAJOR >= 3 and sparams:
                        sc["parameters"] = sparams
                    if MAJOR >= 3 and "slug" in DeploymentScheduleCreate.model_fields:
                        sc["slug"] = f"{name}-{key.lower()}"
                    kw["schedules"].append(DeploymentScheduleCreate(**sc))
            else:
                if scheds:
                    kw["schedule"] = schedule_obj(scheds[0][0])
                kw["is_schedule_active"] = not paused and (not scheds or scheds[0][1])
            if PAUSED_FIELD:
                kw["paused"] = paused
            if MAJOR >= 3:
                kw["job_variables"] = jobvars
                kw["concurrency_limit"] = climit
            elif "job_variables" in inspect.signature(client.create_deployment).parameters:
                kw["job_variables"] = jobvars
            else:
                kw["infra_overrides"] = jobvars
            dep_ids[name] = await client.create_deployment(**kwargs_for(client.create_deployment, **kw))
        log(f"{len(dep_ids)} deployments made")

        # a few auto-scheduled runs through the server's own scheduling endpoint (fixed window)
        for name in ("d01-ny-daily", "d07-three", "d13-sydney"):
            r = await client._client.post(
                f"/deployments/{dep_ids[name]}/schedule",
                json={
                    "start_time": BASE.isoformat(),
                    "end_time": (BASE + dt.timedelta(days=2)).isoformat(),
                    "max_runs": 4,
                    "min_runs": 0,
                },
            )
            r.raise_for_status()

        # deployment flow runs driven through states
        n_runs = 0
        for di, (name, *_rest) in enumerate(DEPLOYMENTS):
            if di % 4 == 3:
                continue  # some deployments have no manual runs
            for j in range(6):
                target = RUN_STATES[(di + j) % len(RUN_STATES)]
                when = BASE + dt.timedelta(hours=di, minutes=15 * j)
                fr = await client.create_flow_run_from_deployment(
                    dep_ids[name],
                    name=f"{name}-run-{j}",
                    state=st.Scheduled(scheduled_time=when),
                    tags=["manual"] if j % 3 == 0 else None,
                )
                await drive(client, fr.id, target, when)
                n_runs += 1
                if target == "COMPLETED" and "completed_run" not in locals():
                    completed_run = fr.id
        log(f"{n_runs} deployment flow runs made")
        await api_task_runs(client, completed_run)


async def api_task_runs(client, flow_run_id) -> None:
    """Task runs created through the REST API with cache_key / cache_expiration set.

    The engine keeps a cache key in the state's state_details (2.x) or its result
    store (3.x) and leaves task_run.cache_key empty; these fill the column.
    """
    from prefect import states as st

    prev = None
    for _i, (name, final) in enumerate(
        [("api-fetch", "COMPLETED"), ("api-parse", "FAILED"), ("api-store", "RUNNING")]
    ):
        inputs = {"x": [{"input_type": "task_run", "id": str(prev)}] if prev else []}
        body = {
            "name": f"{name}-0",
            "flow_run_id": str(flow_run_id),
            "task_key": f"fleet.{name}",
            "dynamic_key": "0",
            "cache_key": f"fixture-{name}",
            "cache_expiration": (BASE + dt.timedelta(days=30)).isoformat(),
            "tags": ["api", name],
            "task_inputs": inputs,
            "state": {"type": "PENDING", "name": "Pending"},
        }
        r = await client._client.post("/task_runs/", json=body)
        r.raise_for_status()
        tr_id = uuid.UUID(r.json()["id"])
        steps = {
            "COMPLETED": [st.Running, st.Completed],
            "FAILED": [st.Running, lambda: st.Failed(message="boom")],
            "RUNNING": [st.Running],
        }[final]
        for make in steps:
            await client.set_task_run_state(tr_id, make(), force=True)
        prev = tr_id


def run_flows() -> None:
    """Real in-process runs: tasks with task_inputs, cache keys, a subflow, failures."""
    for n in (2, 3, 3, 5):
        etl(n=n, mode="full" if n % 2 else "incremental")
    for x in (1, 2):
        with contextlib.suppress(Exception):
            flaky(x=x)
    log("in-process flows ran")


async def drive(client, flow_run_id, target: str, when: dt.datetime) -> None:
    from prefect import states as st

    steps = {
        "SCHEDULED": [],
        "LATE": [lambda: st.Late(scheduled_time=when)],
        "PENDING": [st.Pending],
        "RUNNING": [st.Pending, st.Running],
        "COMPLETED": [st.Pending, st.Running, st.Completed],
        "FAILED": [st.Pending, st.Running, lambda: st.Failed(message="boom (fixture)")],
        "CRASHED": [st.Pending, st.Running, lambda: st.Crashed(message="infrastructure lost (fixture)")],
        "CANCELLED": [
            st.Pending,
            lambda: st.Cancelling(),
            lambda: st.Cancelled(message="cancelled (fixture)"),
        ],
    }[target]
    for make in steps:
        await client.set_flow_run_state(flow_run_id, make(), force=True)


async def wait_for_task_runs(timeout: float = 60) -> None:
    """3.x records task runs from events, asynchronously: wait until the count settles."""
    last, stable, t0 = -1, 0, time.time()
    async with get_client() as client:
        while time.time() - t0 < timeout:
            r = await client._client.post("/task_runs/count", json={})
            n = r.json()
            stable = stable + 1 if n == last and n > 0 else 0
            if stable >= 3:
                log(f"{n} task runs recorded")
                return
            last = n
            await asyncio.sleep(1)
    log(f"task runs still settling after {timeout}s (last count {last})")


# -- dump --------------------------------------------------------------------------
async def filter_all(client, path: str, body: dict | None = None) -> list:
    out, offset, limit = [], 0, 200
    while True:
        r = await client._client.post(path, json={**(body or {}), "offset": offset, "limit": limit})
        r.raise_for_status()
        page = r.json()
        out.extend(page)
        if len(page) < limit:
            return out
        offset += limit


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


async def dump(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    async with get_client() as client:
        sorts = {
            "deployments": "NAME_ASC",
            "flows": "NAME_ASC",
            "flow_runs": "EXPECTED_START_TIME_ASC",
            "task_runs": "EXPECTED_START_TIME_ASC",
            "work_pools": None,
            "work_queues": None,
        }
        for kind, sort in sorts.items():
            rows = await filter_all(client, f"/{kind}/filter", {"sort": sort} if sort else None)
            write_json(out / f"api-{kind}.json", rows)
            if kind == "work_pools":
                pools = [p["name"] for p in rows]
            log(f"api-{kind}.json: {len(rows)}")
        for pool in pools:
            rows = await filter_all(client, f"/work_pools/{pool}/queues/filter")
            write_json(out / f"api-work_pool_queues-{pool}.json", rows)
    deployments = json.loads((out / "api-deployments.json").read_text())
    write_json(out / "expected-preview.json", await preview(deployments))


# -- preview ------------------------------------------------------------------------
def server_schedule(d: dict):
    from prefect.server.schemas import schedules as sch

    cls = sch.CronSchedule if "cron" in d else sch.IntervalSchedule if "interval" in d else sch.RRuleSchedule
    return validate(cls, d)


async def dates(d: dict) -> list:
    start = PREVIEW_START
    end = start + dt.timedelta(days=PREVIEW_DAYS)
    if V2 and MINOR < 30:
        import pendulum

        start, end = pendulum.instance(start), pendulum.instance(end)
    got = await server_schedule(d).get_dates(n=PREVIEW_N, start=start, end=end)
    return [x.isoformat() for x in got]


async def preview(deployments: list) -> dict:
    active: dict = {}
    inactive: list = []
    names = {}
    for dep in deployments:
        names[dep["id"]] = dep["name"]
        paused = dep.get("paused")
        if paused is None:
            paused = not dep.get("is_schedule_active", True)
        if "schedules" in dep and (dep["schedules"] or not dep.get("schedule")):
            scheds = [(s["id"], s["schedule"], s.get("active", True)) for s in dep["schedules"]]
        else:
            scheds = (
                [("schedule", dep["schedule"], dep.get("is_schedule_active", True))]
                if dep.get("schedule")
                else []
            )
        for sid, sched, is_active in scheds:
            got = await dates(sched)
            if is_active and not paused:
                active.setdefault(dep["id"], {})[sid] = got
            else:
                inactive.append(
                    {
                        "deployment_id": dep["id"],
                        "deployment_name": dep["name"],
                        "schedule_id": sid,
                        "reason": (
                            "is_schedule_active=false"
                            if "paused" not in dep
                            else "paused deployment"
                            if paused
                            else "inactive schedule"
                        ),
                        "dates": got,
                    }
                )
    return {
        "prefect_version": VERSION,
        "start": PREVIEW_START.isoformat(),
        "end": (PREVIEW_START + dt.timedelta(days=PREVIEW_DAYS)).isoformat(),
        "n": PREVIEW_N,
        "call": "schedule.get_dates(n=n, start=start, end=end) with prefect.server.schemas.schedules",
        "deployment_names": names,
        "active": active,
        "inactive": inactive,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    p = sub.add_parser("dump")
    p.add_argument("--out", required=True)
    p = sub.add_parser("preview")
    p.add_argument("--deployments", required=True)
    p.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "build":
        asyncio.run(build())
        run_flows()
        if MAJOR >= 3:
            asyncio.run(wait_for_task_runs())
    elif args.cmd == "dump":
        asyncio.run(dump(Path(args.out)))
    else:
        deployments = json.loads(Path(args.deployments).read_text())
        write_json(Path(args.out), asyncio.run(preview(deployments)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
