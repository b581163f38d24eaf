"""Regenerate the sample data in ``data/``: a realistic, deterministic Prefect fleet.

Six teams, their flows and ~240 deployments with cron / interval / rrule schedules
across time zones, three work pools with queues (some legacy tag-filtered, some with
deployment-id or flow-runner filters), and a run history with states, task runs and
subflows. Written as Prefect 2.10 REST API bodies (``api-<kind>.json``), so the same
files load with ``deploykit import data/`` and with any Prefect-aware tool.

Usage: ``python scripts/make_sample_data.py [OUT_DIR]`` (default ``data/``).
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 2023
NOW = datetime(2023, 6, 1, tzinfo=UTC)
TEAMS = {
    "data-eng": ["etl", "ingest", "warehouse"],
    "ml": ["ml", "training", "gpu"],
    "finance": ["finance", "reporting"],
    "platform": ["ops", "infra"],
    "growth": ["marketing", "analytics"],
    "support": ["support", "sla"],
}
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles"]
CRONS = [
    "0 9 * * 1-5",
    "*/15 * * * *",
    "0 2 * * *",
    "30 2 * * *",
    "0 */6 * * *",
    "0 12 1 * *",
    "5 4 * * sun",
    "0 0 1,15 * *",
    "45 23 * * mon",
    "0 8-18 * * 1-5",
    "30 1 * * *",
    "0 6 * jan,jul *",
]
INTERVALS = [300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0]
RRULES = [
    "FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7;BYMINUTE=0",
    "FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=0;BYMINUTE=0",
    "FREQ=HOURLY;INTERVAL=4;BYMINUTE=10",
]
PURPOSES = ["hourly load", "report", "model refresh", "sync", "cleanup"]
FINAL_STATES = ["COMPLETED"] * 6 + ["FAILED", "FAILED", "CRASHED", "CANCELLED"]


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


class Fleet:
    """Builds every collection with one seeded random generator."""

    def __init__(self, seed: int = SEED) -> None:
        self.rnd = random.Random(seed)
        self.clock = NOW - timedelta(days=120)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def stamp(self) -> str:
        self.clock += timedelta(seconds=self.rnd.randint(1, 600))
        return self.clock.isoformat()

    def pools_and_queues(self) -> tuple[list[dict], list[dict]]:
        pools, queues = [], []
        specs = [
            ("default-agent-pool", "prefect-agent", ["default"]),
            ("k8s-pool", "kubernetes", ["default", "high-k8s", "low-k8s", "gpu"]),
            ("process-pool", "process", ["default", "high-k8s", "batch"]),
        ]
        for name, kind, queue_names in specs:
            pool = {
                "id": self.uid(),
                "created": self.stamp(),
                "updated": self.stamp(),
                "name": name,
                "description": f"{kind} workers",
                "type": kind,
                "base_job_template": {},
                "is_paused": False,
                "concurrency_limit": None,
                "default_queue_id": None,
            }
            for priority, qname in enumerate(queue_names, start=1):
                queue = self.queue(qname, pool["id"], priority, None)
                queues.append(queue)
                if qname == "default":
                    pool["default_queue_id"] = queue["id"]
            pools.append(pool)
        legacy = [
            ("legacy-prod", {"tags": ["prod"], "deployment_ids": None}),
            ("legacy-etl-ml", {"tags": ["etl", "ml"], "deployment_ids": None}),
            ("legacy-finance", {"tags": ["finance", "prod"], "deployment_ids": []}),
            ("docker-only", {"tags": [], "deployment_ids": None, "flow_runner_types": ["docker"]}),
        ]
        for priority, (qname, flt) in enumerate(legacy, start=2):
            queues.append(self.queue(qname, pools[0]["id"], priority, flt))
        return pools, queues

    def queue(self, name: str, pool_id: str, priority: int, flt: dict | None) -> dict:
        return {
            "id": self.uid(),
            "created": self.stamp(),
            "updated": self.stamp(),
            "name": name,
            "description": "",
            "is_paused": False,
            "concurrency_limit": None,
            "priority": priority,
            "work_pool_id": pool_id,
            "filter": flt,
            "last_polled": None,
        }

    def flows(self) -> list[dict]:
        flows = []
        for team, topics in TEAMS.items():
            for i in range(self.rnd.randint(5, 8)):
                topic = self.rnd.choice(topics)
                flows.append(
                    {
                        "id": self.uid(),
                        "created": self.stamp(),
                        "updated": self.stamp(),
                        "name": f"{team}-{topic}-{i:02d}",
                        "tags": [team, *self.rnd.sample(topics, 1)],
                    }
                )
        return flows

    def schedule(self, k: int) -> dict | None:
        zone = self.rnd.choice(ZONES)
        if k % 5 == 4:
            return None
        if k % 5 in (0, 1):
            return {"cron": self.rnd.choice(CRONS), "timezone": zone, "day_or": self.rnd.random() > 0.1}
        if k % 5 == 2:
            anchor = datetime(2023, 1, 1, self.rnd.choice([0, 6, 9]), tzinfo=UTC).isoformat()
            return {"interval": self.rnd.choice(INTERVALS), "anchor_date": anchor, "timezone": zone}
        return {"rrule": self.rnd.choice(RRULES), "timezone": zone}

    def deployments(self, flows: list[dict], pools: list[dict], queues: list[dict]) -> list[dict]:
        deps = []
        pool_names = {p["id"]: p["name"] for p in pools}
        for k in range(240):
            flow = flows[k % len(flows)]
            team = flow["tags"][0]
            tags = sorted(
                {
                    team,
                    *self.rnd.sample(TEAMS[team], self.rnd.randint(0, 2)),
                    *self.rnd.sample(["prod", "dev", "critical", "nightly"], self.rnd.randint(0, 2)),
                }
            )
            queue = self.rnd.choice(queues)
            runner = self.rnd.choice([None, None, "docker", "kubernetes", "process"])
            deps.append(
                {
                    "id": self.uid(),
                    "created": self.stamp(),
                    "updated": self.stamp(),
                    "name": f"{flow['name'].split('-', 1)[1]}-{k:03d}",
                    "version": f"1.{k % 7}",
                    "description": f"{team} pipeline #{k}: {self.rnd.choice(PURPOSES)}",
                    "flow_id": flow["id"],
                    "schedule": self.schedule(k),
                    "is_schedule_active": self.rnd.random() > 0.12,
                    "infra_overrides": {},
                    "parameters": {
                        "team": team,
                        "batch_size": self.rnd.choice([100, 500, 1000]),
                        "full_refresh": self.rnd.random() < 0.2,
                    },
                    "tags": tags,
                    "work_queue_name": queue["name"],
                    "parameter_openapi_schema": None,
                    "path": "/opt/flows",
                    "pull_steps": None,
                    "entrypoint": f"flows/{flow['name']}.py:main",
                    "manifest_path": None,
                    "storage_document_id": None,
                    "infrastructure_document_id": None,
                    "flow_runner": None if runner is None else {"type": runner, "config": {}},
                    "created_by": {"id": None, "type": "USER", "display_value": f"{team}-bot"},
                    "updated_by": None,
                    "work_pool_name": pool_names[queue["work_pool_id"]],
                    "work_queue_id": queue["id"],
                }
            )
        return deps

    def runs(self, deployments: list[dict]) -> tuple[list[dict], list[dict]]:
        flow_runs, task_runs = [], []
        for dep in deployments:
            for j in range(self.rnd.randint(4, 12)):
                expected = NOW - timedelta(minutes=self.rnd.randint(60, 60 * 24 * 90))
                state = self.rnd.choice(FINAL_STATES)
                start = expected + timedelta(seconds=self.rnd.randint(0, 300))
                end = start + timedelta(seconds=self.rnd.randint(30, 3600))
                run = self.run(dep, f"{dep['name']}-{j}", state, expected, start, end)
                flow_runs.append(run)
                for t, key in enumerate(["extract", "transform", "load"][: self.rnd.randint(0, 3)]):
                    task = self.task(run, key, t, state, start, end)
                    task_runs.append(task)
                    if key == "transform" and self.rnd.random() < 0.1:
                        child = self.run(dep, f"{run['name']}-sub", state, start, start, end)
                        child["parent_task_run_id"] = task["id"]
                        flow_runs.append(child)
            if dep["schedule"] is not None and self.rnd.random() < 0.5:
                nxt = NOW + timedelta(hours=self.rnd.randint(1, 48))
                run = self.run(dep, f"{dep['name']}-next", "SCHEDULED", nxt, None, None)
                run["auto_scheduled"] = True
                run["tags"] = ["auto-scheduled", *dep["tags"]]
                run["idempotency_key"] = f"scheduled {dep['id']} {nxt.isoformat()}"
                flow_runs.append(run)
        return flow_runs, task_runs

    def run(
        self,
        dep: dict,
        name: str,
        state: str,
        expected: datetime,
        start: datetime | None,
        end: datetime | None,
    ) -> dict:
        return {
            "id": self.uid(),
            "created": self.stamp(),
            "updated": self.stamp(),
            "name": name,
            "flow_id": dep["flow_id"],
            "deployment_id": dep["id"],
            "work_queue_name": dep["work_queue_name"],
            "work_queue_id": dep["work_queue_id"],
            "flow_version": dep["version"],
            "parameters": dep["parameters"],
            "idempotency_key": None,
            "tags": list(dep["tags"]),
            "parent_task_run_id": None,
            "state_type": state,
            "state_name": state.title(),
            "auto_scheduled": False,
            "state": {
                "type": state,
                "name": state.title(),
                "timestamp": iso(end or expected),
                "message": None,
            },
            "expected_start_time": iso(expected),
            "next_scheduled_start_time": iso(expected) if state == "SCHEDULED" else None,
            "start_time": iso(start),
            "end_time": iso(end),
            "infrastructure_document_id": None,
        }

    def task(
        self, run: dict, key: str, index: int, state: str, start: datetime | None, end: datetime | None
    ) -> dict:
        return {
            "id": self.uid(),
            "created": self.stamp(),
            "updated": self.stamp(),
            "name": f"{key}-{index}",
            "flow_run_id": run["id"],
            "task_key": f"tasks.{key}",
            "dynamic_key": str(index),
            "tags": [key],
            "state_type": state,
            "state_name": state.title(),
            "state": {"type": state, "name": state.title(), "timestamp": iso(end), "message": None},
            "start_time": iso(start),
            "end_time": iso(end),
        }


def main(out: Path) -> None:
    fleet = Fleet()
    pools, queues = fleet.pools_and_queues()
    flows = fleet.flows()
    deployments = fleet.deployments(flows, pools, queues)
    flow_runs, task_runs = fleet.runs(deployments)
    out.mkdir(parents=True, exist_ok=True)
    bodies = {
        "work_pools": pools,
        "work_queues": queues,
        "flows": flows,
        "deployments": deployments,
        "flow_runs": flow_runs,
        "task_runs": task_runs,
    }
    for kind, body in bodies.items():
        (out / f"api-{kind}.json").write_text(json.dumps(body, indent=1) + "\n")
        print(f"{kind:12s} {len(body):6d}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "data")
