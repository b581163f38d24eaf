"""A plain-Python reference for SPEC.md section 7, over Prefect REST bodies (the JSON fixtures).

Independent of deploykit's SQL: runs are dicts, percentiles come from numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
FAILED = {"FAILED", "CRASHED"}


def ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class Run:
    id: str
    deployment_id: str | None
    flow_name: str | None
    work_pool_name: str | None
    state_type: str
    expected: datetime | None
    start: datetime | None
    end: datetime | None

    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    def lateness(self, as_of: datetime) -> float | None:
        if self.expected is None:
            return None
        if self.start is not None:
            return max(0.0, (self.start - self.expected).total_seconds())
        if self.state_type in ("SCHEDULED", "PENDING") and self.expected < as_of:
            return (as_of - self.expected).total_seconds()
        return None


def load(folder: Path) -> tuple[list[Run], list[dict]]:
    """The runs (with their deployment's flow name) and the deployment bodies."""
    deployments = json.loads((folder / "api-deployments.json").read_text())
    flows = {f["id"]: f["name"] for f in json.loads((folder / "api-flows.json").read_text())}
    flow_of = {d["id"]: flows[d["flow_id"]] for d in deployments}
    runs = [
        Run(
            r["id"],
            r["deployment_id"],
            flow_of.get(r["deployment_id"]),
            r.get("work_pool_name"),
            r["state_type"],
            ts(r["expected_start_time"]),
            ts(r["start_time"]),
            ts(r["end_time"]),
        )
        for r in json.loads((folder / "api-flow_runs.json").read_text())
    ]
    return runs, deployments


def in_window(run: Run, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    if run.expected is None:
        return False
    return (since is None or run.expected >= since) and (until is None or run.expected < until)


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q * 100)) if values else None


def health(runs: list[Run], deployment_id: str, since, until, as_of, late_after: float = 15.0) -> dict:
    mine = [r for r in runs if r.deployment_id == deployment_id and in_window(r, since, until)]
    terminal = [r for r in mine if r.state_type in TERMINAL]
    newest_first = sorted(terminal, key=lambda r: (r.expected or datetime.min.replace(tzinfo=UTC), r.id))[
        ::-1
    ]
    streak = 0
    for r in newest_first:
        if r.state_type not in FAILED:
            break
        streak += 1
    started = [r for r in mine if r.start is not None]
    last = max(started, key=lambda r: (r.start, r.id)).state_type if started else None
    durations = [d for r in mine if (d := r.duration()) is not None]
    lateness = [x for r in mine if (x := r.lateness(as_of)) is not None]
    late_now = sum(
        1
        for r in mine
        if r.start is None
        and r.state_type in ("SCHEDULED", "PENDING")
        and (r.lateness(as_of) or 0) > late_after
    )
    completed = sum(r.state_type == "COMPLETED" for r in mine)
    return {
        "runs": len(mine),
        "completed": completed,
        "failed": sum(r.state_type == "FAILED" for r in mine),
        "crashed": sum(r.state_type == "CRASHED" for r in mine),
        "cancelled": sum(r.state_type == "CANCELLED" for r in mine),
        "success_rate": completed / len(terminal) if terminal else None,
        "failure_streak": streak,
        "last_state_type": last,
        "duration_p50": percentile(durations, 0.5),
        "duration_p95": percentile(durations, 0.95),
        "lateness_p50": percentile(lateness, 0.5),
        "lateness_p95": percentile(lateness, 0.95),
        "late_now": late_now,
    }


def metrics(values: list[float]) -> dict:
    """count, mean, min, p50, p90, p95, p99, max of ``values``."""
    if not values:
        return {
            "count": 0,
            "mean": None,
            "min": None,
            "p50": None,
            "p90": None,
            "p95": None,
            "p99": None,
            "max": None,
        }
    return {
        "count": len(values),
        "mean": float(np.mean(values)),
        "min": min(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }
