"""Time deploykit on the shared workload, the way ``peer_bench.py`` times Prefect 2.10.

usage: python benchmarks/dk_bench.py N [--keys] [--loop-sample K]

Loads ``workload.make(N)`` into an in-memory store (flows and legacy-filter queues one
by one, deployments through ``create_deployment`` one by one: that loop is the timed
``create_deployment_each``; flow runs in bulk), then times the operations of
``peer_bench.py`` with the same repetitions, plus the seed operations it leaves out
(``peer_extra.py`` times those on the peer) and deploykit's fleet-wide ``schedule_all``
and ``preview_runs``. Prints JSON: ``seconds`` (as ``peer_bench.py``: best-of for
queries, whole-loop totals for loops), ``stats`` (best / median / per-op),
``results`` (fingerprints) and, with ``--keys``, every auto-scheduled run key.

Above ``--loop-sample`` deployments (default 1000) the per-deployment loops (create, schedule_runs,
check_work_queues_for_deployment) run on every k-th deployment only, so that a
10,000-deployment run stays short: the others are created with ``create_deployments``
first (so each timed create meets a full table), scheduled by ``schedule_all`` and
matched by ``queue_matches``; the fingerprints still cover every deployment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

LOOP_SAMPLE = [1000]
"""Most calls one per-deployment loop makes (``--loop-sample``); more are sampled evenly."""

import deploykit as dk  # noqa: E402
from deploykit.models import deployments as D  # noqa: E402
from deploykit.models.flow_runs import create_flow_runs  # noqa: E402
from deploykit.models.flows import create_flow  # noqa: E402
from deploykit.models.work_queues import create_work_queue  # noqa: E402

FAMILIES: dict[str, dict[str, Any]] = {
    "flow": {"flow_filter": {"name": {"like_": "flow-00"}}},
    "flow_run": {"flow_run_filter": {"state": {"type": {"any_": ["FAILED"]}}}},
    "task_run": {"task_run_filter": {"state": {"type": {"any_": ["FAILED"]}}}},
    "deployment": {"deployment_filter": {"tags": {"all_": ["prod"]}}},
    "work_pool": {"work_pool_filter": {"name": {"any_": ["default-agent-pool"]}}},
    "work_queue": {"work_queue_filter": {"name": {"any_": ["queue-01", "queue-02"]}}},
}
"""One filter per family of the seed's read/count operations (dict form, as a user may give)."""


def sampled(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """Every k-th item (at most ``LOOP_SAMPLE`` of them) and the rest."""
    step = max(1, -(-len(items) // LOOP_SAMPLE[0]))
    return items[::step], [x for i, x in enumerate(items) if i % step]


def load(store: dk.Store, w: dict[str, Any], t: dict[str, Any]) -> None:
    """Load the workload as ``peer_bench.py`` does, timing the same three phases."""
    _, t["load_flows_queues"] = C.once(lambda: _load_flows_queues(store, w), 1)
    timed_part, rest = sampled(w["deployments"])
    if rest:
        D.create_deployments(store, [_model(d) for d in rest])
    _, t["create_deployment_each"] = C.once(lambda: _create_each(store, timed_part), len(timed_part))
    runs = pl.DataFrame(
        {
            "id": [r["id"] for r in w["flow_runs"]],
            "name": [r["name"] for r in w["flow_runs"]],
            "flow_id": [r["flow_id"] for r in w["flow_runs"]],
            "deployment_id": [r["deployment_id"] for r in w["flow_runs"]],
            "state_type": [r["state_type"] for r in w["flow_runs"]],
            "state_name": [r["state_type"].title() for r in w["flow_runs"]],
            "tags": [r["tags"] for r in w["flow_runs"]],
            "expected_start_time": [datetime.fromisoformat(r["expected_start_time"]) for r in w["flow_runs"]],
        },
        schema_overrides={"tags": pl.List(pl.String)},
    )
    _, t["bulk_insert_flow_runs"] = C.once(lambda: create_flow_runs(store, runs), runs.height)
    _insert_task_runs(store, C.task_runs(w["flow_runs"]))


def _load_flows_queues(store: dk.Store, w: dict[str, Any]) -> None:
    for f in w["flows"]:
        create_flow(store, dk.Flow(id=f["id"], name=f["name"], tags=f["tags"]))
    for q in w["work_queues"]:
        create_work_queue(store, dk.WorkQueue(name=q["name"], filter=q["filter"]))


def _model(d: dict[str, Any]) -> dk.Deployment:
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


def _create_each(store: dk.Store, deployments: list[dict[str, Any]]) -> None:
    """The timed loop: one ``create_deployment`` per deployment, model built inside as the peer."""
    for d in deployments:
        D.create_deployment(store, _model(d))


def _insert_task_runs(store: dk.Store, rows: list[dict[str, Any]]) -> None:
    """Benchmark fixture only: the task runs of ``_common.task_runs`` in one INSERT."""
    frame = pl.DataFrame(rows, schema_overrides={"tags": pl.List(pl.String)})
    with store.transaction() as cur:
        cur.register("new_task_runs", frame)
        cur.execute(
            "INSERT INTO task_run (id, created, updated, name, flow_run_id, task_key, dynamic_key,"
            " tags, state_type, state_name) SELECT CAST(id AS UUID), now(), now(), name,"
            " CAST(flow_run_id AS UUID), task_key, dynamic_key, tags, state_type, state_name"
            " FROM new_task_runs"
        ).fetchall()
        cur.unregister("new_task_runs")


def queries(store: dk.Store, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> None:
    """``peer_bench.py``'s q1..q5 and read-by-name loop, then each filter family."""
    r1, t["q1_tags_sorted_limit"] = C.timed(
        lambda: D.read_deployments(
            store, deployment_filter={"tags": {"all_": ["prod"]}}, sort="NAME_ASC", limit=50
        ),
        5,
    )
    r2, t["q2_flowname_active"] = C.timed(
        lambda: D.read_deployments(
            store,
            flow_filter={"name": {"like_": "flow-00"}},
            deployment_filter={"is_schedule_active": {"eq_": True}},
        ),
        5,
    )
    r3, t["q3_count_by_failed_runs"] = C.timed(lambda: D.count_deployments(store, **FAMILIES["flow_run"]), 5)
    r4, t["q4_count_by_queue"] = C.timed(lambda: D.count_deployments(store, **FAMILIES["work_queue"]), 5)
    r5, t["q5_read_all_name_desc"] = C.timed(lambda: D.read_deployments(store, sort="NAME_DESC"), 3)
    out.update(q1=r1["id"].to_list(), q2=r2.height, q3=r3, q4=r4, q5=r5.height)
    flow_names = {f["id"]: f["name"] for f in w["flows"]}
    sample = w["deployments"][: C.EXTRA_SAMPLE]
    _, t["read_by_name_200"] = C.once(
        lambda: [D.read_deployment_by_name(store, d["name"], flow_names[d["flow_id"]]) for d in sample],
        len(sample),
    )
    found, t["read_by_id_200"] = C.once(
        lambda: [D.read_deployment(store, d["id"]) for d in sample], len(sample)
    )
    out["read_by_id_found"] = sum(d is not None for d in found)
    for family, kwargs in FAMILIES.items():
        reps = C.family_reps(len(w["deployments"]))
        rows, t[f"read_{family}"] = C.timed(lambda kw=kwargs: D.read_deployments(store, **kw), reps)
        count, t[f"count_{family}"] = C.timed(lambda kw=kwargs: D.count_deployments(store, **kw), reps)
        out[f"read_{family}"] = C.fingerprint(rows["id"].to_list())
        out[f"read_{family}_n"] = rows.height
        out[f"count_{family}"] = count


def scheduled_keys(store: dk.Store) -> list[str]:
    """``deployment_id utc-isoformat`` of every auto-scheduled run, as ``peer_bench.py`` keys them."""
    rows = store.sql(
        "SELECT CAST(deployment_id AS VARCHAR) AS d, expected_start_time AS t "
        "FROM flow_run WHERE auto_scheduled"
    )
    return [f"{d} {ts.astimezone(UTC).isoformat()}" for d, ts in rows.iter_rows()]


def _schedule_each(store: dk.Store, deployments: list[dict[str, Any]], start: datetime) -> list[list[Any]]:
    """The timed loop: ``schedule_runs`` per deployment in one transaction, as the peer's session."""
    with store.transaction():
        return [D.schedule_runs(store, d["id"], start_time=start) for d in deployments]


def scheduling(store: dk.Store, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """schedule_runs per deployment (as the peer), then schedule_all over the same fleet."""
    start = datetime.fromisoformat(C.SCHEDULE_START)
    timed_part, rest = sampled(w["deployments"])
    _, t["schedule_runs_all"] = C.once(lambda: _schedule_each(store, timed_part, start), len(timed_part))
    if rest:
        D.schedule_all(store, start_time=start)
    keys = scheduled_keys(store)
    out["scheduled_total"] = len(keys)
    out["scheduled_fingerprint"] = C.fingerprint(keys)
    with store.transaction() as cur:
        cur.execute("DELETE FROM flow_run WHERE auto_scheduled").fetchall()
    inserted, t["schedule_all"] = C.once(
        lambda: D.schedule_all(store, start_time=start), len(w["deployments"])
    )
    out["schedule_all_total"] = inserted.height
    out["schedule_all_fingerprint"] = C.fingerprint(scheduled_keys(store))
    week = start + timedelta(days=7)
    preview, t["preview_runs_7d"] = C.timed(lambda: D.preview_runs(store, start, week), 3)
    out["preview_runs_7d_rows"] = preview.height
    return keys


def queue_checks(store: dk.Store, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> None:
    """check_work_queues_for_deployment for every deployment, and the one-query matrix."""
    timed_part, rest = sampled(w["deployments"])
    counts, t["check_work_queues_all"] = C.once(
        lambda: [D.check_work_queues_for_deployment(store, d["id"]).height for d in timed_part],
        len(timed_part),
    )
    matrix, t["queue_matches_matrix"] = C.timed(lambda: D.queue_matches(store), 3)
    out["queue_matches_matrix_total"] = int(matrix["matches"].sum())
    out["queue_matches_total"] = out["queue_matches_matrix_total"] if rest else sum(counts)


def writes(store: dk.Store, w: dict[str, Any], t: dict[str, Any], out: dict[str, Any]) -> None:
    """update_deployment and delete_deployment on the first deployments of the workload."""
    sample = w["deployments"][: C.EXTRA_SAMPLE]
    update = dk.DeploymentUpdate(description="benchmarked", tags=["bench"])
    updated, t["update_200"] = C.once(
        lambda: [D.update_deployment(store, d["id"], update) for d in sample], len(sample)
    )
    deleted, t["delete_200"] = C.once(
        lambda: [D.delete_deployment(store, d["id"]) for d in sample], len(sample)
    )
    out["update_true"] = sum(updated)
    out["delete_true"] = sum(deleted)
    out["count_after_delete"] = D.count_deployments(store)


def main(n: int, with_keys: bool) -> dict[str, Any]:
    """Run every timing at ``n`` deployments; return the JSON document printed."""
    w = C.load_workload().make(n)
    t: dict[str, Any] = {}
    out: dict[str, Any] = {}
    store = dk.Store()
    load(store, w, t)
    queries(store, w, t, out)
    keys = scheduling(store, w, t, out)
    queue_checks(store, w, t, out)
    writes(store, w, t, out)
    seconds = {k: v.get("best", v.get("total")) for k, v in t.items()}
    doc = {"n": n, "seconds": seconds, "stats": t, "results": out, "rss_mib": C.peak_rss_mib()}
    if with_keys:
        doc["keys"] = sorted(keys)
    return doc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=1000)
    parser.add_argument("--keys", action="store_true", help="print every scheduled run key")
    parser.add_argument("--loop-sample", type=int, default=LOOP_SAMPLE[0])
    args = parser.parse_args()
    LOOP_SAMPLE[0] = args.loop_sample
    t_start = time.perf_counter()
    result = main(args.n, args.keys)
    result["wall_seconds"] = time.perf_counter() - t_start
    print(json.dumps(result, indent=1))
