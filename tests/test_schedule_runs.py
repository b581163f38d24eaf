"""schedule_runs (Prefect's cases), schedule_all (same runs in bulk) and preview_runs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

import polars as pl
import pytest
from tests_support import new_deployment

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows

START = datetime(2023, 1, 1, 12, tzinfo=UTC)  # mid-day: a daily schedule's first date is tomorrow


@pytest.fixture
def daily(store, flow) -> dk.Deployment:
    return new_deployment(
        store,
        flow,
        "daily",
        schedule={
            "interval": 86400,
            "anchor_date": "2020-01-01T00:00:00+00:00",
            "timezone": "UTC",
        },
        tags=["test", "prod"],
        parameters={"x": 1},
        work_queue_name="wq",
        infrastructure_document_id="11111111-2222-3333-4444-555555555555",
    )


def runs_of(store, dep) -> pl.DataFrame:
    return flow_runs.read_flow_runs(store, flow_run_filter={"deployment_id": {"any_": [dep.id]}})


def test_defaults_give_three_runs(store, daily):
    ids = D.schedule_runs(store, daily.id, start_time=START)
    assert len(ids) == 3
    runs = runs_of(store, daily)
    assert sorted(runs["id"].to_list()) == sorted(str(i) for i in ids)
    days = [t.date() for t in runs["expected_start_time"]]
    assert days == [START.date() + timedelta(days=k) for k in (1, 2, 3)]


def test_second_call_is_idempotent(store, daily):
    assert len(D.schedule_runs(store, daily.id, start_time=START)) == 3
    assert D.schedule_runs(store, daily.id, start_time=START) == []
    assert runs_of(store, daily).height == 3


def test_min_runs(store, daily):
    assert len(D.schedule_runs(store, daily.id, start_time=START, min_runs=5)) == 5


def test_end_time_beats_min_runs(store, daily):
    ids = D.schedule_runs(
        store, daily.id, start_time=START, end_time=START + timedelta(days=17), min_runs=100
    )
    assert len(ids) == 17


def test_end_time_without_min_runs(store, daily):
    assert len(D.schedule_runs(store, daily.id, start_time=START, end_time=START + timedelta(days=17))) == 3


def test_min_time(store, daily):
    assert len(D.schedule_runs(store, daily.id, start_time=START, min_time=timedelta(days=17))) == 18


def test_window_and_max_runs(store, daily):
    ids = D.schedule_runs(
        store,
        daily.id,
        start_time=START + timedelta(days=10),
        end_time=START + timedelta(days=30),
        min_runs=50,
        max_runs=4,
    )
    assert len(ids) == 4
    first = runs_of(store, daily)["expected_start_time"].min()
    assert first == datetime(2023, 1, 12, tzinfo=UTC)


def test_start_is_inclusive(store, daily):
    midnight = datetime(2023, 1, 1, tzinfo=UTC)
    D.schedule_runs(store, daily.id, start_time=midnight)
    assert runs_of(store, daily)["expected_start_time"].min() == midnight


def test_backfill_in_the_past(store, daily):
    past = datetime(2021, 6, 1, 6, tzinfo=UTC)
    assert len(D.schedule_runs(store, daily.id, start_time=past, min_runs=10)) == 10
    assert runs_of(store, daily)["expected_start_time"].max() < datetime(2021, 6, 12, tzinfo=UTC)


def test_run_details_are_copied(store, daily):
    D.schedule_runs(store, daily.id, start_time=START)
    run = flow_runs.read_flow_run(store, runs_of(store, daily)["id"][0])
    assert run.flow_id == daily.flow_id and run.deployment_id == daily.id
    assert run.tags == ["auto-scheduled", "test", "prod"]
    assert run.parameters == {"x": 1}
    assert run.work_queue_name == "wq" and run.work_queue_id == daily.work_queue_id
    assert run.infrastructure_document_id == daily.infrastructure_document_id
    assert run.state_type == "SCHEDULED" and run.state_name == "Scheduled"
    assert run.state_message == "Flow run scheduled"
    assert run.auto_scheduled is True
    assert run.scheduled_time == run.expected_start_time == run.next_scheduled_start_time
    assert run.idempotency_key == f"scheduled {daily.id} {run.expected_start_time.isoformat()}"


def test_manual_scheduling_keeps_plain_tags(store, daily):
    D.schedule_runs(store, daily.id, start_time=START, auto_scheduled=False)
    runs = runs_of(store, daily)
    assert runs["tags"].to_list() == [["test", "prod"]] * 3
    assert not any(runs["auto_scheduled"])


def test_idempotency_key_uses_the_schedule_zone(store, flow):
    dep = new_deployment(
        store,
        flow,
        "ny",
        schedule={"cron": "0 9 * * *", "timezone": "America/New_York"},
    )
    D.schedule_runs(store, dep.id, start_time=START, max_runs=1)
    key = runs_of(store, dep)["idempotency_key"][0]
    assert key == f"scheduled {dep.id} 2023-01-01T09:00:00-05:00"


@pytest.mark.parametrize(
    "change",
    [
        {"schedule": None},
        {"is_schedule_active": False},
    ],
)
def test_nothing_for_unscheduled_or_inactive(store, flow, change):
    base = {"name": "d", "flow_id": flow.id, "schedule": {"cron": "* * * * *"}}
    dep = D.create_deployment(store, dk.Deployment(**(base | change)))
    assert D.schedule_runs(store, dep.id, start_time=START) == []


def test_nothing_for_missing_deployment(store):
    assert D.schedule_runs(store, "00000000-0000-0000-0000-000000000001", start_time=START) == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"start_time": datetime(2023, 1, 1)}, "naive"),
        ({"start_time": START, "end_time": START - timedelta(days=1)}, "before"),
        ({"start_time": START, "max_runs": -1}, "max_runs"),
        ({"start_time": START, "min_runs": 10**9}, "min_runs"),
        ({"start_time": START, "min_time": timedelta(hours=-1)}, "min_time"),
    ],
)
def test_bad_windows_are_rejected_without_writes(store, daily, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.schedule_runs(store, daily.id, **kwargs)
    assert runs_of(store, daily).height == 0


# --- the fleet ----------------------------------------------------------------------------------


ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", None]


def _fleet(store, n: int, seed: int) -> list[dk.Deployment]:
    rnd = random.Random(seed)
    flow = flows.create_flow(store, dk.Flow(name="fleet"))
    made = []
    for i in range(n):
        zone = rnd.choice(ZONES)
        kind = i % 3
        if kind == 0:
            sched = {
                "cron": rnd.choice(
                    ["30 2 * * *", "0 * * * *", "*/20 1-3 * * *", "0 9 * * mon-fri", "30 1 * * *"]
                ),
                "timezone": zone,
            }
        elif kind == 1:
            sched = {
                "interval": rnd.choice([900, 3600, 86400, 3 * 86400 + 3600]),
                "anchor_date": "2023-01-01T02:30:00+00:00",
                "timezone": zone or "UTC",
            }
        else:
            sched = {
                "rrule": rnd.choice(["FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "FREQ=HOURLY;INTERVAL=5"]),
                "timezone": zone or "UTC",
            }
        made.append(
            new_deployment(
                store,
                flow,
                f"d{i}",
                schedule=sched,
                tags=["t"],
                is_schedule_active=rnd.random() > 0.15,
            )
        )
    return made


def _fingerprint(store) -> set[tuple]:
    """Every run as (deployment name, time, key without the id, tags): comparable across stores."""
    df = store.sql(
        """
        SELECT d.name, r.expected_start_time AS t, r.tags,
            replace(r.idempotency_key, CAST(d.id AS VARCHAR), d.name) AS k
        FROM flow_run r JOIN deployment d ON d.id = r.deployment_id
        """
    )
    return {(r["name"], r["t"], r["k"], tuple(r["tags"])) for r in df.iter_rows(named=True)}


@pytest.mark.parametrize(
    "start,kwargs",
    [
        (datetime(2023, 3, 11, 20, tzinfo=UTC), {}),
        (datetime(2023, 11, 4, 22, tzinfo=UTC), {"min_runs": 7, "min_time": timedelta(hours=30)}),
        (
            datetime(2023, 10, 1, tzinfo=UTC),
            {"end_time": datetime(2023, 10, 2, 4, tzinfo=UTC), "max_runs": 9},
        ),
    ],
)
def test_schedule_all_gives_exactly_the_per_deployment_runs(start, kwargs):
    with dk.Store() as loop_store, dk.Store() as bulk_store:
        fleet = _fleet(loop_store, 45, seed=5)
        _fleet(bulk_store, 45, seed=5)
        looped = [i for d in fleet for i in D.schedule_runs(loop_store, d.id, start_time=start, **kwargs)]
        inserted = D.schedule_all(bulk_store, start_time=start, **kwargs)
        assert _fingerprint(loop_store) == _fingerprint(bulk_store)
        assert inserted.height == len(looped) > 0
        assert D.schedule_all(bulk_store, start_time=start, **kwargs).height == 0


def test_schedule_all_respects_the_deployment_filter(store, flow):
    _fleet(store, 12, seed=1)
    inserted = D.schedule_all(store, start_time=START, deployment_filter={"name": {"any_": ["d0", "d3"]}})
    names = {D.read_deployment(store, i).name for i in inserted["deployment_id"].unique()}
    assert names <= {"d0", "d3"} and names


def test_preview_matches_get_dates_and_writes_nothing(store):
    fleet = _fleet(store, 30, seed=9)
    start, end = datetime(2023, 3, 11, tzinfo=UTC), datetime(2023, 3, 14, tzinfo=UTC)
    preview = D.preview_runs(store, start, end)
    assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == 0
    for d in fleet:
        got = preview.filter(pl.col("deployment_id") == str(d.id))["scheduled_time"].to_list()
        want = (
            [t.astimezone(UTC) for t in d.schedule.get_dates(n=1000, start=start, end=end)]
            if d.is_schedule_active
            else []
        )
        assert got == want, d.schedule
    assert set(preview.columns) >= {
        "flow_name",
        "work_queue_name",
        "local_time",
        "dst_adjusted",
        "timezone",
    }


def test_preview_flags_dst_moves(store, flow):
    new_deployment(
        store,
        flow,
        "gap",
        schedule={"cron": "30 2 * * *", "timezone": "America/New_York"},
    )
    preview = D.preview_runs(store, datetime(2023, 3, 10, tzinfo=UTC), datetime(2023, 3, 14, tzinfo=UTC))
    flagged = preview.filter("dst_adjusted")
    assert flagged["scheduled_time"].to_list() == [datetime(2023, 3, 12, 7, tzinfo=UTC)]


@pytest.mark.parametrize(
    "start,end,match",
    [
        (datetime(2023, 1, 1), datetime(2023, 1, 2, tzinfo=UTC), "naive"),
        (datetime(2023, 1, 2, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC), "before"),
        (datetime(2023, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), "longer"),
    ],
)
def test_preview_rejects_bad_windows(store, start, end, match):
    with pytest.raises(ValueError, match=match):
        D.preview_runs(store, start, end)


def test_schedule_all_returns_ids_of_stored_runs(store):
    _fleet(store, 9, seed=3)
    inserted = D.schedule_all(store, start_time=START)
    stored = flow_runs.read_flow_runs(store)
    assert sorted(inserted["id"].to_list()) == sorted(stored["id"].to_list())
    assert all(isinstance(UUID(i), UUID) for i in inserted["id"])
