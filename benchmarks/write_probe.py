"""Per-call milliseconds of the one-deployment writes, for before / after comparisons on a busy machine.

usage: PYTHONPATH=$PWD python benchmarks/write_probe.py   (from the repo root; prints JSON)

``create_deployment`` (new, then again on existing rows), ``schedule_runs`` (in one
transaction, as ``dk_bench.py``), ``update_deployment`` and ``delete_deployment``, 40 calls
each on ``workload.make(40)``, on an in-memory and on a file store. Small and quick, so that
two checkouts can be timed alternately, back to back, when other jobs share the cores (as
for the issue-11 table in RESULTS.md).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
from dk_bench import _load_flows_queues, _model

import deploykit as dk
from deploykit.models import deployments as D

CALLS = 40


def per_call(call: Callable[[dict[str, Any]], object], deployments: list[dict[str, Any]]) -> float:
    """Milliseconds per call of ``call`` over the deployments."""
    started = time.perf_counter()
    for d in deployments:
        call(d)
    return (time.perf_counter() - started) / len(deployments) * 1e3


def probe(store: dk.Store, w: dict[str, Any]) -> dict[str, float]:
    """Each write, timed on ``store`` loaded with the workload's flows and queues."""
    _load_flows_queues(store, w)
    deployments = w["deployments"]
    start = datetime.fromisoformat(C.SCHEDULE_START)
    update = dk.DeploymentUpdate(description="benchmarked", tags=["bench"])
    times = {
        "create": per_call(lambda d: D.create_deployment(store, _model(d)), deployments),
        "create_again": per_call(lambda d: D.create_deployment(store, _model(d)), deployments),
    }
    with store.transaction():
        times["schedule_runs"] = per_call(
            lambda d: D.schedule_runs(store, d["id"], start_time=start), deployments
        )
    times["update"] = per_call(lambda d: D.update_deployment(store, d["id"], update), deployments)
    times["delete"] = per_call(lambda d: D.delete_deployment(store, d["id"]), deployments)
    return times


def main() -> None:
    w = C.load_workload().make(CALLS)
    out = {"mem": probe(dk.Store(), w)}
    with tempfile.TemporaryDirectory() as tmp:
        out["file"] = probe(dk.Store(Path(tmp) / "s.duckdb"), w)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
