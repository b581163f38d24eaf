"""Run history (SPEC.md section 7) checked against a plain-Python reference over the JSON fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from history_reference import Run, health, in_window, load, metrics

import deploykit as dk
from deploykit.history import deployment_health, late_runs, missed_runs, recent_runs, run_counts, run_metrics
from deploykit.io import import_prefect_api
from deploykit.models import deployments, flow_runs, flows, work_pools, work_queues

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
SAMPLE = Path(__file__).parents[1] / "data"
REAL_AS_OF = datetime(2026, 11, 27, 22, 41, tzinfo=UTC)
SAMPLE_AS_OF = datetime(2023, 6, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")

WINDOWS = {
    "fixtures": [
        (None, None),
        (datetime(2026, 11, 27, 23, 40, 10, tzinfo=BERLIN), None),
        (None, datetime(2026, 11, 28, 7, 40, 12, tzinfo=TOKYO)),
        (datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 6, 2, tzinfo=UTC)),
    ],
    "sample": [
        (None, None),
        (datetime(2023, 5, 25, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)),
        (datetime(2023, 4, 1, 2, tzinfo=BERLIN), datetime(2023, 4, 15, 9, tzinfo=TOKYO)),
    ],
}
SOURCES = {"fixtures": (FIXTURES, REAL_AS_OF), "sample": (SAMPLE, SAMPLE_AS_OF)}


@pytest.fixture(scope="module", params=["fixtures", "sample"])
def loaded(request):
    folder, as_of = SOURCES[request.param]
    with dk.Store() as store:
        import_prefect_api(store, folder)
        runs, bodies = load(folder)
        yield request.param, store, runs, bodies, as_of


def assert_row(got: dict, expected: dict, context: object) -> None:
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (context, key)
        else:
            assert got[key] == value, (context, key)


def test_health_matches_reference(loaded):
    name, store, runs, bodies, as_of = loaded
    for since, until in WINDOWS[name]:
        got = deployment_health(store, since=since, until=until, as_of=as_of)
        assert sorted(got["deployment_id"]) == sorted(d["id"] for d in bodies)
        for row in got.iter_rows(named=True):
            assert_row(row, health(runs, row["deployment_id"], since, until, as_of), (since, until))


def test_health_columns_and_status(loaded):
    name, store, _, _, as_of = loaded
    got = deployment_health(store, as_of=as_of)
    assert got.columns[:16] == [
        "deployment_id", "flow_name", "deployment_name", "runs", "completed", "failed", "crashed",
        "cancelled", "success_rate", "failure_streak", "last_state_type", "duration_p50",
        "duration_p95", "lateness_p50", "lateness_p95", "late_now",
    ]  # fmt: skip
    for row in got.iter_rows(named=True):
        expected = (
            "failing"
            if row["failure_streak"]
            else "late"
            if row["late_now"]
            else "no runs"
            if row["runs"] == 0
            else "healthy"
        )
        assert row["status"] == expected
    assert set(got["status"]) >= {"failing", "healthy"} or name == "fixtures"


def test_run_metrics_matches_reference(loaded):
    name, store, runs, _, as_of = loaded
    for since, until in WINDOWS[name]:
        window = [r for r in runs if in_window(r, since, until)]
        for metric in ("duration", "lateness"):
            values = [v for r in window if (v := _value(r, metric, as_of)) is not None]
            got = run_metrics(store, metric, since=since, until=until, as_of=as_of)
            assert got.height == 1
            assert_row(got.row(0, named=True), metrics(values), (metric, since, until))
            for column, key in [
                ("deployment_id", lambda r: r.deployment_id),
                ("flow_name", lambda r: r.flow_name),
                ("state_type", lambda r: r.state_type),
            ]:
                _check_grouped(store, window, metric, as_of, since, until, [column], lambda r, k=key: (k(r),))


@pytest.mark.parametrize("loaded", ["fixtures"], indirect=True)  # the sample's runs name no work pool
def test_run_metrics_by_pool_and_day(loaded):
    _, store, runs, _, as_of = loaded
    assert any(r.work_pool_name for r in runs)
    day = lambda r: (r.work_pool_name, r.expected.replace(hour=0, minute=0, second=0, microsecond=0))  # noqa: E731
    _check_grouped(store, runs, "duration", as_of, None, None, ["work_pool_name"], day, every="1d")


def _value(run: Run, metric: str, as_of: datetime) -> float | None:
    return run.duration() if metric == "duration" else run.lateness(as_of)


def _check_grouped(store, window, metric, as_of, since, until, by, key, every=None):
    groups: dict[tuple, list[float]] = {}
    for r in window:
        if (v := _value(r, metric, as_of)) is not None:
            groups.setdefault(key(r), []).append(v)
    got = run_metrics(store, metric, by=by, every=every, since=since, until=until, as_of=as_of)
    keys = [*by, *(["period"] if every else [])]
    assert got.height == len(groups), (metric, by)
    for row in got.iter_rows(named=True):
        assert_row(row, metrics(groups[tuple(row[k] for k in keys)]), (metric, by, row))


def test_filters_select_like_read_deployments(loaded):
    _, store, _, _, as_of = loaded
    for filters in [
        {"deployment_filter": {"is_schedule_active": {"eq_": False}}},
        {"work_pool_filter": {"name": {"any_": ["k8s-pool"]}}},
        {"flow_run_filter": {"state": {"type": {"any_": ["CRASHED"]}}}},
        {"flow_filter": {"name": {"like_": "e"}}, "work_queue_filter": {"name": {"startswith_": ["d"]}}},
    ]:
        expected = set(deployments.read_deployments(store, **filters)["id"])
        assert set(deployment_health(store, as_of=as_of, **filters)["deployment_id"]) == expected
        by_dep = run_metrics(store, "lateness", by="deployment_id", as_of=as_of, **filters)
        assert set(by_dep["deployment_id"]) <= expected
        assert set(late_runs(store, as_of=as_of, **filters)["deployment_id"]) <= expected


def test_late_runs_match_reference(loaded):
    _, store, runs, _, as_of = loaded
    for threshold in (timedelta(seconds=15), 3600.0):
        seconds = threshold.total_seconds() if isinstance(threshold, timedelta) else threshold
        expected = {
            r.id: r.lateness(as_of)
            for r in runs
            if r.start is None
            and r.state_type in ("SCHEDULED", "PENDING")
            and (r.lateness(as_of) or 0) > seconds
        }
        got = late_runs(store, as_of=as_of, threshold=threshold)
        assert dict(zip(got["flow_run_id"], got["lateness"], strict=True)) == pytest.approx(expected)
        assert got["lateness"].to_list() == sorted(got["lateness"], reverse=True)
    assert late_runs(store, as_of=as_of, since=as_of).height == 0


def test_missed_runs_match_reference(loaded):
    name, store, runs, bodies, _ = loaded
    since, until = (
        (datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 6, 3, 12, tzinfo=BERLIN))
        if name == "fixtures"
        else (datetime(2023, 5, 25, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC))
    )
    taken = {(r.deployment_id, r.expected) for r in runs}
    expected = set()
    for body in bodies:
        if body["schedule"] is None or not body["is_schedule_active"]:
            continue
        schedule = deployments.read_deployment(store, body["id"]).schedule
        for date in all_dates(schedule, since, until):
            if (body["id"], date.astimezone(UTC)) not in taken:
                expected.add((body["id"], date.astimezone(UTC)))
    got = missed_runs(store, since, until)
    assert set(zip(got["deployment_id"], got["scheduled_time"], strict=True)) == expected
    assert got.height == len(expected) > 0
    assert got["schedule_id"].null_count() == got.height
    assert got["scheduled_time"].is_sorted()


def all_dates(schedule, since: datetime, until: datetime) -> list[datetime]:
    """Every date in ``[since, until)``, past ``get_dates``' 1000 per call."""
    dates, start = [], since
    while True:
        batch = schedule.get_dates(start=start, end=until)
        dates += [d for d in batch if d < until]
        if len(batch) < 1000:
            return dates
        start = batch[-1] + timedelta(microseconds=1)


# --- hand-made histories: ties, deleted deployments, empty windows --------------------------

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def fleet(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    deps = {
        name: deployments.create_deployment(
            store, dk.Deployment(name=name, flow_id=flow.id, work_queue_name="q")
        )
        for name in ("a", "b", "c")
    }
    return store, flow, deps


def add_run(store, flow, dep, state, expected, start=None, end=None, run_id=None):
    run = dk.FlowRun(
        flow_id=flow.id,
        deployment_id=dep.id,
        state_type=state,
        expected_start_time=expected,
        start_time=start,
        end_time=end,
        **({"id": run_id} if run_id else {}),
    )
    return flow_runs.create_flow_run(store, run)


def test_ties_break_by_id(fleet):
    store, flow, deps = fleet
    low, high = "00000000-0000-4000-8000-000000000001", "ffffffff-0000-4000-8000-000000000001"
    # same expected start: the larger id is the newer terminal run
    add_run(store, flow, deps["a"], "COMPLETED", at(0), at(1), at(2), run_id=high)
    add_run(store, flow, deps["a"], "FAILED", at(0), at(1), at(3), run_id=low)
    # same start time: the larger id is the last state
    add_run(
        store, flow, deps["b"], "FAILED", at(0), at(1), at(2), run_id="10000000-0000-4000-8000-000000000000"
    )
    add_run(
        store, flow, deps["b"], "CANCELLED", at(0), at(1), None, run_id="f0000000-0000-4000-8000-000000000000"
    )
    got = {r["deployment_name"]: r for r in deployment_health(store, as_of=at(10)).iter_rows(named=True)}
    assert got["a"]["failure_streak"] == 0 and got["a"]["last_state_type"] == "COMPLETED"
    assert got["b"]["failure_streak"] == 0 and got["b"]["last_state_type"] == "CANCELLED"
    assert got["b"]["success_rate"] == 0.0 and got["b"]["duration_p50"] == 60.0


def test_failure_streak_counts_back_to_last_success(fleet):
    store, flow, deps = fleet
    states = ["FAILED", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "RUNNING", "FAILED", "SCHEDULED"]
    for i, state in enumerate(states):
        started = state not in ("SCHEDULED",)
        add_run(store, flow, deps["a"], state, at(i), at(i) if started else None, None)
    row = deployment_health(store, as_of=at(100)).filter(pl.col("deployment_name") == "a").row(0, named=True)
    assert row["failure_streak"] == 2  # FAILED (6) and CRASHED (4), back to CANCELLED (3)
    assert row["last_state_type"] == "FAILED"
    assert row["runs"] == 8 and row["completed"] == 1 and row["success_rate"] == 1 / 6
    assert row["late_now"] == 1 and row["status"] == "failing"
    assert row["lateness_p50"] == 0.0  # started on time; the scheduled run is 93 min late
    assert row["lateness_p95"] == pytest.approx(
        float(__import__("numpy").percentile([0] * 7 + [93 * 60], 95))
    )


def test_runs_of_deleted_deployments_are_not_counted(fleet):
    store, flow, deps = fleet
    add_run(store, flow, deps["a"], "COMPLETED", at(0), at(0), at(10))
    add_run(store, flow, deps["b"], "COMPLETED", at(0), at(0), at(1))
    add_run(store, flow, deps["b"], "FAILED", at(5), at(5), at(6))
    deployments.delete_deployment(store, deps["b"].id)
    assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == 3  # history is kept
    by_flow = run_metrics(store, "duration", by="flow_name")
    assert by_flow.select("flow_name", "count", "max").rows() == [("etl", 1, 600.0)]
    assert deployment_health(store)["deployment_name"].to_list() == ["a", "c"]
    assert late_runs(store).height == 0


def test_unstarted_and_unfinished_runs(fleet):
    store, flow, deps = fleet
    add_run(store, flow, deps["a"], "RUNNING", at(0), at(2), None)  # no end: lateness only
    add_run(store, flow, deps["a"], "PENDING", at(5), None, None)  # waiting: late at as_of
    add_run(store, flow, deps["a"], "CANCELLED", at(6), None, None)  # never started: neither
    add_run(store, flow, deps["a"], "SCHEDULED", at(60), None, None)  # in the future: neither
    as_of = at(10)
    assert run_metrics(store, "duration", as_of=as_of)["count"].to_list() == [0]
    lateness = run_metrics(store, "lateness", as_of=as_of, by="state_type")
    assert lateness.select("state_type", "count", "max").rows() == [
        ("PENDING", 1, 300.0),
        ("RUNNING", 1, 120.0),
    ]
    row = deployment_health(store, as_of=as_of).row(0, named=True)
    assert (row["runs"], row["cancelled"], row["success_rate"], row["late_now"]) == (4, 1, 0.0, 1)
    assert row["status"] == "late" and row["last_state_type"] == "RUNNING"
    assert late_runs(store, as_of=as_of).select("state_type", "lateness").rows() == [("PENDING", 300.0)]
    assert (
        late_runs(
            store,
            as_of=at(
                5,
            )
            + timedelta(seconds=15),
        ).height
        == 0
    )  # exactly 15 s is not late
    assert late_runs(store, as_of=at(5) + timedelta(seconds=15.5)).height == 1


def test_empty_window(fleet):
    store, flow, deps = fleet
    add_run(store, flow, deps["a"], "COMPLETED", at(0), at(0), at(1))
    health_rows = deployment_health(store, since=at(30), until=at(30))
    assert health_rows["runs"].to_list() == [0, 0, 0]
    assert health_rows["status"].to_list() == ["no runs"] * 3
    assert (
        health_rows["success_rate"].null_count() == 3 and health_rows["failure_streak"].to_list() == [0] * 3
    )
    one = run_metrics(store, "duration", since=at(30), until=at(31))
    assert one.row(0) == (0, None, None, None, None, None, None, None)
    assert run_metrics(store, "duration", by="deployment_id", since=at(30), until=at(31)).height == 0
    assert run_metrics(store, "duration", every="1h", since=at(30), until=at(31)).height == 0
    assert missed_runs(store, at(0), at(0)).height == 0


def test_window_is_half_open_and_zone_independent(fleet):
    store, flow, deps = fleet
    add_run(store, flow, deps["a"], "COMPLETED", at(0), at(0), at(1))
    add_run(store, flow, deps["a"], "COMPLETED", at(60), at(60), at(62))
    berlin = datetime(2024, 3, 1, 1, 0, tzinfo=BERLIN)  # == at(0)
    tokyo = datetime(2024, 3, 1, 10, 0, tzinfo=TOKYO)  # == at(60)
    assert run_metrics(store, "duration", since=berlin, until=tokyo)["max"].to_list() == [60.0]
    assert run_metrics(store, "duration", since=tokyo)["max"].to_list() == [120.0]


def test_pool_and_queue_pause_shown(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes", is_paused=True))
    queue = work_queues.create_work_queue(
        store, dk.WorkQueue(name="gpu", work_pool_id=pool.id, is_paused=False)
    )
    dep = deployments.create_deployment(
        store, dk.Deployment(name="train", flow_id=flow.id, work_queue_name="gpu", work_queue_id=queue.id)
    )
    add_run(store, flow, dep, "SCHEDULED", at(0))
    got = late_runs(store, as_of=at(1)).row(0, named=True)
    assert (got["work_pool_name"], got["work_queue_name"]) == ("k8s", "gpu")
    assert (got["work_pool_paused"], got["work_queue_paused"], got["lateness"]) == (True, False, 60.0)


def test_missed_runs_past_the_expansion_cap(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    every_minute = dk.CronSchedule(cron="* * * * *")
    dep = deployments.create_deployment(
        store, dk.Deployment(name="m", flow_id=flow.id, schedule=every_minute)
    )
    paused = dk.Deployment(name="p", flow_id=flow.id, schedule=every_minute, is_schedule_active=False)
    deployments.create_deployment(store, paused)
    add_run(store, flow, dep, "COMPLETED", at(7), at(7), at(8))
    got = missed_runs(store, T0, T0 + timedelta(days=1))
    assert got.height == 1440 - 1
    assert got["scheduled_time"].n_unique() == got.height
    assert at(7) not in set(got["scheduled_time"]) and got["scheduled_time"].max() == at(1439)
    assert set(got["deployment_name"]) == {"m"} and set(got["flow_name"]) == {"etl"}


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: run_metrics(s, "speed"), "metric.*'speed'"),
        (lambda s: run_metrics(s, "duration", by="owner"), "by.*'owner'"),
        (lambda s: run_metrics(s, "duration", by=["flow_name", "flow_name"]), "by.*repeated"),
        (lambda s: run_metrics(s, "duration", every="1 day"), "every.*'1 day'"),
        (lambda s: run_metrics(s, "duration", every="fortnight"), "every.*'fortnight'"),
        (lambda s: run_metrics(s, "duration", every="0d"), "every.*'0d'"),
        (lambda s: run_metrics(s, "duration", every="1mo1d"), "every.*'1mo1d'"),
        (lambda s: run_metrics(s, "duration", since=datetime(2024, 1, 1)), "since.*naive"),
        (lambda s: deployment_health(s, until=datetime(2024, 1, 1)), "until.*naive"),
        (lambda s: deployment_health(s, as_of=datetime(2024, 1, 1)), "as_of.*naive"),
        (lambda s: deployment_health(s, since=at(5), until=at(1)), "since .* is after until"),
        (lambda s: deployment_health(s, late_after=-1), "late_after"),
        (lambda s: late_runs(s, threshold="15s"), "threshold.*'15s'"),
        (lambda s: missed_runs(s, at(5), at(1)), "since .* is after until"),
        (lambda s: missed_runs(s, None, at(1)), "since is required"),
        (lambda s: missed_runs(s, at(0), datetime(2024, 1, 1)), "until.*naive"),
        (lambda s: run_metrics(s, "duration", deployment_filter={"nope": 1}), "nope"),
    ],
)
def test_bad_input_names_argument_and_value(store, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(store)


def test_run_counts_and_recent_runs_match_reference(loaded):
    _, store, runs, _, as_of = loaded
    counts: dict[tuple, int] = {}
    for r in runs:
        day = r.expected.replace(hour=0, minute=0, second=0, microsecond=0)
        counts[(r.state_type, day)] = counts.get((r.state_type, day), 0) + 1
    got = run_counts(store)
    assert {(s, p): n for s, p, n in got.rows()} == counts
    newest = sorted(runs, key=lambda r: (r.expected, r.id), reverse=True)[:25]
    recent = recent_runs(store, limit=25, as_of=as_of)
    assert recent["flow_run_id"].to_list() == [r.id for r in newest]
    for row, r in zip(recent.iter_rows(named=True), newest, strict=True):
        assert row["duration"] == pytest.approx(r.duration()) and row["lateness"] == pytest.approx(
            r.lateness(as_of)
        )
