"""Helpers shared by the benchmark scripts: timing, the shared workload, extra fixtures.

Stdlib only, so that the Prefect peer's virtual environment (``peer_extra.py``) can
import it as well as deploykit's. Timings follow ``peer_bench.py``: a query is run
``reps`` times and its best (minimum) and median times are kept.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

SHARED_PEER = Path(os.environ.get("DEPLOYKIT_PEER_DIR", "/work/shared/peer"))
"""Where ``workload.py`` and ``peer_bench.py`` live (``../shared/peer`` of the repo)."""

SCHEDULE_START = "2023-03-01T00:00:00+00:00"
"""The ``start_time`` ``peer_bench.py`` passes to ``schedule_runs``."""

EXTRA_SAMPLE = 200
"""How many deployments the point operations (read by id, update, delete) touch."""

TASK_STATES = ("COMPLETED", "FAILED", "RUNNING")


def peer_dir() -> Path:
    """The shared peer folder: ``$DEPLOYKIT_PEER_DIR``, else beside the repo, else /work."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (SHARED_PEER, here.parent / "shared" / "peer"):
        if (candidate / "workload.py").exists():
            return candidate
    raise FileNotFoundError("cannot find shared/peer/workload.py; set DEPLOYKIT_PEER_DIR")


def load_workload() -> ModuleType:
    """Import ``workload.py`` of the shared peer folder by path (it is stdlib only)."""
    path = peer_dir() / "workload.py"
    spec = importlib.util.spec_from_file_location("peer_workload", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_runs(flow_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Task runs for the task-run filter family, derived deterministically from the flow runs.

    The shared workload has none; every third flow run gets one task run whose state
    cycles through ``TASK_STATES``, so both sides hold exactly the same rows.
    """
    rows = []
    for i, run in enumerate(flow_runs):
        if i % 3:
            continue
        state = TASK_STATES[(i // 3) % len(TASK_STATES)]
        uid = hashlib.md5(run["id"].encode()).hexdigest()
        rows.append(
            {
                "id": f"{uid[:8]}-{uid[8:12]}-4{uid[13:16]}-8{uid[17:20]}-{uid[20:32]}",
                "name": f"task-{i}",
                "flow_run_id": run["id"],
                "task_key": "extract",
                "dynamic_key": "0",
                "state_type": state,
                "state_name": state.title(),
                "tags": run["tags"],
            }
        )
    return rows


def family_reps(n: int) -> int:
    """Repetitions of the filter-family queries: 5, or 3 above 1,000 deployments (the peer's
    task-run and flow-run filters take minutes per call at 10,000)."""
    return 5 if n <= 1000 else 3


def timed(fn: Callable[[], Any], reps: int) -> tuple[Any, dict[str, float]]:
    """Run ``fn`` ``reps`` times; return its last result and the best and median seconds."""
    times = []
    result = None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, {"best": min(times), "median": statistics.median(times), "reps": reps}


def once(fn: Callable[[], Any], count: int) -> tuple[Any, dict[str, float]]:
    """Run ``fn`` once (it loops ``count`` times inside); seconds per iteration."""
    t0 = time.perf_counter()
    result = fn()
    total = time.perf_counter() - t0
    return result, {"total": total, "per_op": total / max(count, 1), "count": count}


def fingerprint(keys: list[str]) -> str:
    """``peer_bench.py``'s scheduled-run fingerprint: sha256 of the sorted lines."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
