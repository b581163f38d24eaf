"""Compare deploykit's answers with the Prefect 2.10 peer's, explaining every allowed difference.

SPEC.md lets deploykit answer differently in a few places; each is recognised here
by a rule that inspects the difference itself (never by skipping the field):

- queue / pool filters: Prefect's model layer leaves ``work_queue_id`` null, so those
  filters select nothing there (the peer's answer must be 0 / empty);
- scheduled runs: every run present on one side only must be a DST case (the
  schedule's zone observes DST and the run falls on a transition day, or, for an
  interval, on the other side of a UTC-offset change from its anchor), or belong to
  an RRULE without DTSTART, which Prefect 2.10 anchors at the moment it parses the
  schedule (so a backfill window in the past gets no run at all there).

Anything else that differs is a failure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

QUEUE_FIELDS = (
    "q4",
    "read_work_queue",
    "read_work_queue_n",
    "count_work_queue",
    "read_work_pool",
    "read_work_pool_n",
    "count_work_pool",
)
"""Answers that depend on ``work_queue_id``, which Prefect's model layer leaves null."""

SCHEDULE_FIELDS = ("scheduled_total", "scheduled_fingerprint")
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass
class Comparison:
    """The outcome of comparing one workload size."""

    n: int
    equal: list[str] = field(default_factory=list)
    explained: list[tuple[str, Any, Any, str]] = field(default_factory=list)
    failures: list[tuple[str, Any, Any, str]] = field(default_factory=list)
    schedule_diff: dict[str, Any] = field(default_factory=dict)


def observes_dst(zone: ZoneInfo, year: int) -> bool:
    """Whether the zone's UTC offset changes during ``year``."""
    offsets = {datetime(year, m, 1, 12, tzinfo=zone).utcoffset() for m in range(1, 13)}
    return len(offsets) > 1


def transition_day(zone: ZoneInfo, day: date) -> bool:
    """Whether the local calendar day contains a UTC-offset change."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = start + timedelta(days=1)
    return start.utcoffset() != nxt.utcoffset()


def classify_run(schedule: dict[str, Any] | None, instant: datetime, peer_has_runs: bool) -> str:
    """Why one scheduled run appears on one side only: ``dst``, ``rrule-dtstart`` or ``unexplained``."""
    if schedule is None:
        return "unexplained"
    if "rrule" in schedule:
        no_dtstart = "DTSTART" not in schedule["rrule"].upper()
        return "rrule-dtstart" if no_dtstart and not peer_has_runs else "unexplained"
    zone = ZoneInfo(schedule.get("timezone") or "UTC")
    if not observes_dst(zone, instant.year):
        return "unexplained"
    local = instant.astimezone(zone)
    if transition_day(zone, local.date()):
        return "dst"
    if "interval" in schedule:
        anchor = datetime.fromisoformat(schedule["anchor_date"]).astimezone(zone)
        if anchor.utcoffset() != local.utcoffset():
            return "dst"
    return "unexplained"


def diff_schedules(
    peer_keys: list[str], dk_keys: list[str], deployments: list[dict[str, Any]]
) -> dict[str, Any]:
    """Set difference of the scheduled runs, each differing run classified."""
    schedules = {d["id"]: d["schedule"] for d in deployments}
    peer_set, dk_set = set(peer_keys), set(dk_keys)
    peer_deps = {k.split(" ", 1)[0] for k in peer_set}
    by_kind: dict[str, int] = defaultdict(int)
    cases: dict[str, dict[str, Any]] = {}
    for side, keys in (("peer_only", peer_set - dk_set), ("dk_only", dk_set - peer_set)):
        for key in sorted(keys):
            dep, when = key.split(" ", 1)
            kind = classify_run(schedules.get(dep), datetime.fromisoformat(when), dep in peer_deps)
            by_kind[f"{side}:{kind}"] += 1
            case = cases.setdefault(
                dep, {"schedule": schedules.get(dep), "peer_only": [], "dk_only": [], "kinds": set()}
            )
            case[side].append(when)
            case["kinds"].add(kind)
    for case in cases.values():
        case["kinds"] = sorted(case["kinds"])
    return {
        "peer_only": len(peer_set - dk_set),
        "dk_only": len(dk_set - peer_set),
        "common": len(peer_set & dk_set),
        "by_kind": dict(by_kind),
        "cases": cases,
        "unexplained": sum(v for k, v in by_kind.items() if k.endswith("unexplained")),
    }


def compare(
    n: int,
    peer: dict[str, Any],
    dk: dict[str, Any],
    peer_keys: list[str] | None,
    dk_keys: list[str] | None,
    deployments: list[dict[str, Any]],
) -> Comparison:
    """Compare every answer the peer gave with deploykit's (``peer`` merges both peer scripts)."""
    result = Comparison(n)
    for name in sorted(set(peer) & set(dk)):
        p, d = peer[name], dk[name]
        if p == d:
            result.equal.append(name)
        elif name in QUEUE_FIELDS and p in (0, EMPTY_SHA):
            why = "Prefect's model layer leaves work_queue_id null: queue/pool filters select nothing"
            result.explained.append((name, p, d, why))
        elif name in SCHEDULE_FIELDS:
            continue
        else:
            result.failures.append((name, p, d, "different answer"))
    if peer.get("scheduled_fingerprint") != dk.get("scheduled_fingerprint"):
        values = [(f, peer.get(f), dk.get(f)) for f in SCHEDULE_FIELDS]
        diff = None
        if peer_keys is not None and dk_keys is not None:
            diff = diff_schedules(peer_keys, dk_keys, deployments)
        _explain_schedules(result, values, diff)
    return result


def _explain_schedules(
    result: Comparison, values: list[tuple[str, Any, Any]], diff: dict[str, Any] | None
) -> None:
    """Explain the schedule answers ``values`` (name, peer's, deploykit's) that differ, by the
    runs' ``diff`` (:func:`diff_schedules`; ``None`` without run keys: failures)."""
    if diff is None:
        for name, p, d in values:
            result.failures.append((name, p, d, "no run keys to explain the difference"))
        return
    result.schedule_diff = diff
    if diff["unexplained"]:
        why = f"{diff['unexplained']} differing runs are neither DST cases nor DTSTART-less RRULEs"
        for name, p, d in values:
            result.failures.append((name, p, d, why))
        return
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(diff["by_kind"].items()))
    for name, p, d in values:
        result.explained.append((name, p, d, f"every differing run classified ({kinds})"))
