"""Per-call milliseconds of the one-deployment writes, for before / after comparisons on a busy machine.

usage: PYTHONPATH=$PWD python benchmarks/write_probe.py   (from the repo root; prints JSON)

``create_deployment`` (new, then again on existing rows), ``schedule_runs`` (in one
transaction, as ``dk_bench.py``), ``update_deployment`` and ``delete_deployment``, 40 calls
each on ``workload.make(40)``, on an in-memory and on a file store. Small and quick, so that
two checkouts can be timed alternately, back to back, when other jobs share the cores (as
for the issue-11 table in RESULTS.md).
"""

import json
import os
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models.flows import create_flow
from deploykit.models.work_queues import create_work_queue

w = C.load_workload().make(40)


def model(d):
    return dk.Deployment(
        id=d["id"],
        name=d["name"],
        flow_id=d["flow_id"],
        tags=d["tags"],
        schedule=d["schedule"],
        is_schedule_active=d["is_schedule_active"],
        work_queue_name=d["work_queue_name"],
        parameters=d["parameters"],
    )


start = datetime.fromisoformat(C.SCHEDULE_START)
upd = dk.DeploymentUpdate(description="benchmarked", tags=["bench"])


def per(fn, items):
    t = time.perf_counter()
    [fn(x) for x in items]
    return (time.perf_counter() - t) / len(items) * 1e3


def run(store):
    for f in w["flows"]:
        create_flow(store, dk.Flow(id=f["id"], name=f["name"], tags=f["tags"]))
    for q in w["work_queues"]:
        create_work_queue(store, dk.WorkQueue(name=q["name"], filter=q["filter"]))
    deps = w["deployments"]
    r = {
        "create": per(lambda d: D.create_deployment(store, model(d)), deps),
        "create_again": per(lambda d: D.create_deployment(store, model(d)), deps),
    }
    with store.transaction():
        r["schedule_runs"] = per(lambda d: D.schedule_runs(store, d["id"], start_time=start), deps)
    r["update"] = per(lambda d: D.update_deployment(store, d["id"], upd), deps)
    r["delete"] = per(lambda d: D.delete_deployment(store, d["id"]), deps)
    return r


out = {"mem": run(dk.Store())}
with tempfile.TemporaryDirectory() as tmp:
    out["file"] = run(dk.Store(os.path.join(tmp, "s.duckdb")))
print(json.dumps(out))
