"""One data model for every Prefect release (issue 12, SPEC.md section 6) and the preview
fixes of issue 13 items 1 and 2: many schedules per deployment, ``paused``, the 2.10 views,
Prefect 3's schedule operations and filter criteria, scheduling per schedule."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import polars as pl
import pytest
from pydantic import ValidationError
from tests_support import new_deployment

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows

START = datetime(2024, 1, 1, tzinfo=UTC)
HOURLY = {"interval": 3600, "anchor_date": "2024-01-01T00:00:00Z"}
DAILY_9 = {"cron": "0 9 * * *"}


@pytest.fixture
def store():
    with dk.Store() as s:
        yield s


@pytest.fixture
def flow(store):
    return flows.create_flow(store, dk.Flow(name="etl"))


def _two(store, flow, **extra) -> dk.Deployment:
    return new_deployment(
        store,
        flow,
        "two",
        parameters={"a": 1, "b": 2},
        schedules=[
            dk.DeploymentScheduleCreate(schedule=HOURLY, parameters={"b": 3}),
            {"schedule": DAILY_9, "active": False},
        ],
        **extra,
    )


# --- schemas ------------------------------------------------------------------------------


def test_both_forms_are_valid_and_agree():
    f = uuid4()
    old = dk.Deployment(name="d", flow_id=f, schedule=DAILY_9, is_schedule_active=False)
    assert old.paused and len(old.schedules) == 1 and old.schedules[0].active
    new = dk.Deployment(name="d", flow_id=f, schedules=[{"schedule": DAILY_9}], paused=True)
    assert new.schedule == old.schedule and new.is_schedule_active is False
    both = dk.Deployment(
        name="d", flow_id=f, schedule=DAILY_9, schedules=[{"schedule": DAILY_9}], paused=False
    )
    assert both.is_schedule_active
    many = dk.Deployment(name="d", flow_id=f, schedules=[{"schedule": DAILY_9}, {"schedule": HOURLY}])
    assert many.schedule is None


@pytest.mark.parametrize(
    "given",
    [
        {"schedule": DAILY_9, "schedules": [{"schedule": HOURLY}]},
        {"schedule": DAILY_9, "schedules": []},
        {"is_schedule_active": True, "paused": True},
    ],
)
def test_conflicting_views_are_a_clear_validation_error(given):
    with pytest.raises(ValidationError, match="disagree"):
        dk.Deployment(name="d", flow_id=uuid4(), **given)


def test_update_conflicts_are_a_validation_error():
    with pytest.raises(ValidationError, match="disagree"):
        dk.DeploymentUpdate(is_schedule_active=False, paused=False)
    with pytest.raises(ValidationError, match="disagree"):
        dk.DeploymentUpdate(schedule=DAILY_9, schedules=[{"schedule": HOURLY}])


def test_assigning_a_view_writes_its_field():
    d = dk.Deployment(name="d", flow_id=uuid4())
    d.schedule = DAILY_9
    assert len(d.schedules) == 1
    d.is_schedule_active = False
    assert d.paused
    d.schedules = []
    assert d.schedule is None


def test_job_variables_is_infra_overrides():
    d = dk.Deployment(name="d", flow_id=uuid4(), job_variables={"image": "x"})
    assert d.infra_overrides == d.job_variables == {"image": "x"}
    assert dk.DeploymentUpdate(job_variables={"a": 1}).infra_overrides == {"a": 1}


def test_schedule_models_are_public():
    import deploykit.schemas as schemas

    for name in ("DeploymentSchedule", "DeploymentScheduleCreate", "DeploymentScheduleUpdate"):
        assert getattr(dk, name) is getattr(schemas, name)
    with pytest.raises(ValidationError):
        dk.DeploymentScheduleCreate(schedule=DAILY_9, max_scheduled_runs=0)


def test_runs_gain_the_later_fields(store, flow):
    run = flow_runs.create_flow_run(
        store,
        dk.FlowRun(
            flow_id=flow.id, run_count=2, total_run_time=1.5, state_details={"x": 1}, labels={"k": "v"}
        ),
    )
    assert (run.run_count, run.total_run_time, run.state_details, run.labels) == (
        2,
        1.5,
        {"x": 1},
        {"k": "v"},
    )
    assert dk.TaskRun(flow_run_id=run.id, task_key="t", cache_key="c", task_inputs={"x": []}).cache_key == "c"


# --- create / update / read / delete --------------------------------------------------------


def test_many_schedules_round_trip(store, flow):
    dep = _two(store, flow, concurrency_limit=2, labels={"team": "a"}, status="READY")
    back = D.read_deployment(store, dep.id)
    assert [s.active for s in back.schedules] == [True, False]
    assert back.schedules[0].parameters == {"b": 3} and back.schedule is None
    assert (back.concurrency_limit, back.labels, back.status, back.paused) == (
        2,
        {"team": "a"},
        "READY",
        False,
    )
    assert back.work_pool_name == back.work_queue_name is None
    frame = D.read_deployments(store)
    row = frame.row(0, named=True)
    assert row["schedule"] is None and row["is_schedule_active"] and row["paused"] is False
    assert row["flow_name"] == "etl" and row["schedule_type"] == "mixed"
    listed = json.loads(row["schedules"])
    assert [s["active"] for s in listed] == [True, False]
    assert listed[0]["schedule"]["interval"] == 3600
    [again] = dk.to_models(frame, dk.Deployment)
    assert again == back


def test_frames_carry_work_pool_name(store, flow):
    D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="q"))
    assert D.read_deployments(store).select("flow_name", "work_pool_name").row(0) == (
        "etl",
        "default-agent-pool",
    )
    assert D.read_deployment_by_name(store, "d", "etl").work_pool_name == "default-agent-pool"
    matrix = D.queue_matches(store)
    assert set(matrix["flow_name"]) == {"etl"} and "work_pool_name" in matrix.columns


def test_writing_schedule_replaces_the_schedules(store, flow):
    dep = _two(store, flow)
    D.create_deployment(store, dk.Deployment(name="two", flow_id=flow.id, schedule=DAILY_9))
    back = D.read_deployment(store, dep.id)
    assert len(back.schedules) == 1 and back.schedules[0].active and back.schedule.cron == "0 9 * * *"
    D.create_deployment(store, dk.Deployment(name="two", flow_id=flow.id, tags=["x"]))
    assert len(D.read_deployment(store, dep.id).schedules) == 1  # not given: kept
    assert D.update_deployment(store, dep.id, dk.DeploymentUpdate(schedule=None))
    assert D.read_deployment(store, dep.id).schedules == []
    assert D.update_deployment(
        store, dep.id, dk.DeploymentUpdate(schedules=[{"schedule": HOURLY}, {"schedule": DAILY_9}])
    )
    assert len(D.read_deployment(store, dep.id).schedules) == 2


def test_is_schedule_active_writes_paused(store, flow):
    dep = _two(store, flow)
    D.update_deployment(store, dep.id, dk.DeploymentUpdate(is_schedule_active=False))
    assert D.read_deployment(store, dep.id).paused
    D.update_deployment(store, dep.id, dk.DeploymentUpdate(paused=False, concurrency_limit=3))
    back = D.read_deployment(store, dep.id)
    assert back.is_schedule_active and back.concurrency_limit == 3


def test_delete_deployment_deletes_its_schedules(store, flow):
    dep = _two(store, flow)
    assert D.delete_deployment(store, dep.id)
    assert store.sql("SELECT count(*) AS n FROM deployment_schedule")["n"][0] == 0


# --- Prefect 3 schedule operations -----------------------------------------------------------


def _auto_runs(store, dep) -> int:
    D.schedule_runs(store, dep.id, start_time=START)
    return store.sql("SELECT count(*) AS n FROM flow_run WHERE auto_scheduled")["n"][0]


def test_schedule_operations(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule=DAILY_9))
    assert _auto_runs(store, dep) > 0
    [added] = D.create_deployment_schedules(
        store, dep.id, [dk.DeploymentScheduleCreate(schedule=HOURLY, max_scheduled_runs=2, slug="h")]
    )
    assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == 0  # auto-scheduled runs deleted
    frame = D.read_deployment_schedules(store, dep.id)
    assert frame["slug"].to_list() == [None, "h"] and frame["id"][1] == str(added.id)
    assert _auto_runs(store, dep) > 0
    assert D.update_deployment_schedule(store, dep.id, added.id, {"active": False, "parameters": {"n": 1}})
    assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == 0
    row = D.read_deployment_schedules(store, dep.id).row(1, named=True)
    assert row["active"] is False and json.loads(row["parameters"]) == {"n": 1}
    assert not D.update_deployment_schedule(store, uuid4(), added.id, {"active": True})
    assert _auto_runs(store, dep) > 0
    assert D.delete_deployment_schedule(store, dep.id, added.id)
    assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == 0
    assert not D.delete_deployment_schedule(store, dep.id, added.id)
    assert D.read_deployment_schedules(store, dep.id).height == 1
    with pytest.raises(dk.ObjectNotFoundError):
        D.create_deployment_schedules(store, uuid4(), [{"schedule": HOURLY}])


# --- scheduling with many schedules ------------------------------------------------------------


def test_schedule_runs_uses_each_active_schedule(store, flow):
    dep = new_deployment(
        store,
        flow,
        "d",
        parameters={"a": 1, "b": 2},
        schedules=[
            {"schedule": HOURLY, "parameters": {"b": 3}, "max_scheduled_runs": 2},
            {"schedule": DAILY_9},
            {"schedule": {"interval": 60, "anchor_date": START}, "active": False},
        ],
    )
    ids = D.schedule_runs(store, dep.id, start_time=START)
    runs = store.sql("SELECT idempotency_key, parameters, expected_start_time FROM flow_run ORDER BY 3, 1")
    assert len(ids) == runs.height == 2 + 3
    hourly, daily = (str(s.id) for s in dep.schedules[:2])
    keys = runs["idempotency_key"].to_list()
    assert f"scheduled {dep.id} {hourly} 2024-01-01T00:00:00+00:00" in keys
    assert sum(daily in k for k in keys) == 3 and sum(hourly in k for k in keys) == 2
    params = {json.dumps(json.loads(p), sort_keys=True) for p in runs["parameters"]}
    assert params == {'{"a": 1, "b": 3}', '{"a": 1, "b": 2}'}
    # the fleet path gives the same runs
    copies = [
        {
            "schedule": s.schedule,
            "active": s.active,
            "max_scheduled_runs": s.max_scheduled_runs,
            "parameters": s.parameters,
        }
        for s in dep.schedules
    ]
    again = new_deployment(store, flow, "d2", parameters={"a": 1, "b": 2}, schedules=copies)
    fleet = D.schedule_all(store, start_time=START, deployment_filter={"id": {"any_": [again.id]}})
    made = store.sql(
        "SELECT parameters, expected_start_time FROM flow_run WHERE deployment_id = $id ORDER BY 2, 1",
        id=again.id,
    )
    parsed = [(json.loads(p), t) for p, t in made.rows()]
    assert fleet.height == 5 and parsed == [(json.loads(p), t) for _, p, t in runs.rows()]
    assert D.schedule_all(store, start_time=START).height == 0


def test_one_schedule_keeps_the_2_10_key(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule=HOURLY))
    D.schedule_runs(store, dep.id, start_time=START)
    keys = store.sql("SELECT idempotency_key FROM flow_run ORDER BY 1")["idempotency_key"].to_list()
    assert keys[0] == f"scheduled {dep.id} 2024-01-01T00:00:00+00:00"


def test_paused_deployment_gets_no_runs(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule=HOURLY, paused=True))
    assert D.schedule_runs(store, dep.id, start_time=START) == []
    assert D.schedule_all(store, start_time=START).height == 0


# --- preview (issue 13 items 1 and 2) ---------------------------------------------------------------


def test_preview_names_the_schedule_of_each_run(store, flow):
    dep = _two(store, flow)
    preview = D.preview_runs(store, START, START + timedelta(hours=2))
    assert preview["schedule_id"].unique().to_list() == [str(dep.schedules[0].id)]
    assert preview["will_run"].all() and not preview["truncated"].any()


def test_paused_and_inactive_are_not_previewed_as_running(store, flow):
    _two(store, flow)
    D.create_deployment(store, dk.Deployment(name="off", flow_id=flow.id, schedule=DAILY_9, paused=True))
    window = (START, START + timedelta(days=1))
    default = D.preview_runs(store, *window)
    assert set(default["deployment_name"]) == {"two"} and default.height == 25
    everything = D.preview_runs(store, *window, include_inactive=True)
    off = everything.filter(~pl.col("will_run"))
    assert off.height == 2 and set(off["deployment_name"]) == {"two", "off"}


def test_preview_counts_are_exact_beyond_1000_runs(store, flow):
    for i in range(3):
        D.create_deployment(
            store,
            dk.Deployment(
                name=f"five-{i}", flow_id=flow.id, schedule={"interval": 300, "anchor_date": START}
            ),
        )
    window = (START, START + timedelta(days=30))
    exact = D.preview_runs(store, *window, max_runs=None)
    assert exact.group_by("deployment_name").len()["len"].to_list() == [30 * 288 + 1] * 3
    assert exact["scheduled_time"].n_unique() == 30 * 288 + 1 and not exact["truncated"].any()
    with pytest.warns(UserWarning, match=r"stopped 3 deployment\(s\) at max_runs=1000.*etl/five-0"):
        capped = D.preview_runs(store, *window)
    assert capped.height == 3000 and capped["truncated"].all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert D.preview_runs(store, *window, max_runs=20_000).height == exact.height


def test_preview_max_runs_is_checked(store, flow):
    with pytest.raises(ValueError, match="positive integer or None"):
        D.preview_runs(store, START, START + timedelta(days=1), max_runs=0)


# --- Prefect 3 filter criteria ----------------------------------------------------------------------


@pytest.fixture
def fleet(store, flow):
    other = flows.create_flow(store, dk.Flow(name="reporting"))
    D.create_deployment(
        store,
        dk.Deployment(name="a", flow_id=flow.id, paused=True, concurrency_limit=1, work_queue_name="q1"),
    )
    D.create_deployment(
        store, dk.Deployment(name="b", flow_id=flow.id, concurrency_limit=5, work_queue_name="q2")
    )
    D.create_deployment(store, dk.Deployment(name="c", flow_id=other.id))
    return {
        q: D.read_deployment_by_name(store, n, "etl").work_queue_id for q, n in (("q1", "a"), ("q2", "b"))
    }


@pytest.mark.parametrize(
    "criteria,expected",
    [
        ({"paused": {"eq_": True}}, ["a"]),
        ({"paused": {"eq_": False}}, ["b", "c"]),
        ({"is_schedule_active": {"eq_": False}}, ["a"]),
        ({"concurrency_limit": {"ge_": 2}}, ["b"]),
        ({"concurrency_limit": {"le_": 2}}, ["a"]),
        ({"concurrency_limit": {"is_null_": True}}, ["c"]),
        ({"flow_or_deployment_name": {"like_": "report"}}, ["c"]),
        ({"flow_or_deployment_name": {"like_": "b"}}, ["b"]),
        ({"flow_or_deployment_name": {"like_": "et_"}}, ["a", "b"]),
    ],
)
def test_prefect_3_deployment_criteria(store, fleet, criteria, expected):
    assert D.read_deployments(store, deployment_filter=criteria)["name"].to_list() == expected
    assert D.count_deployments(store, deployment_filter=criteria) == len(expected)
    frame = D.read_deployments(store)
    assert frame.filter(dk.DeploymentFilter(**criteria).as_expr())["name"].to_list() == expected


def test_work_queue_id_criterion(store, fleet):
    f = {"work_queue_id": {"any_": [fleet["q2"]]}}
    assert D.read_deployments(store, deployment_filter=f)["name"].to_list() == ["b"]
    assert D.count_deployments(store, deployment_filter=f) == 1
    matrix = D.queue_matches(store, deployment_filter={"flow_or_deployment_name": {"like_": "report"}})
    assert set(matrix["deployment_name"]) == {"c"}


def test_bulk_create_writes_schedules_and_paused(store, flow):
    frame = pl.DataFrame(
        {
            "name": ["a", "b"],
            "flow_id": [str(flow.id)] * 2,
            "schedule": ['{"cron": "0 * * * *"}', None],
            "is_schedule_active": [False, True],
        }
    )
    assert D.create_deployments(store, frame) == 2
    rows = D.read_deployments(store).select("name", "schedule_type", "paused", "is_schedule_active").rows()
    assert rows == [("a", "cron", True, False), ("b", None, False, True)]
    models = [
        dk.Deployment(
            name="c",
            flow_id=flow.id,
            schedules=[{"schedule": HOURLY}, {"schedule": DAILY_9, "active": False}],
        )
    ]
    assert D.create_deployments(store, models) == 1
    assert [s.active for s in D.read_deployment_by_name(store, "c", "etl").schedules] == [True, False]
    D.create_deployments(store, frame.with_columns(schedule=pl.lit(None, pl.String)))
    assert store.sql("SELECT count(*) AS n FROM deployment_schedule")["n"][0] == 2  # a's removed, c's kept


def test_store_table_keeps_the_2_10_columns(store, flow):
    D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule=DAILY_9, paused=True))
    row = store.table("deployment").select("schedule", "is_schedule_active", "paused").collect().row(0)
    assert json.loads(row[0])["cron"] == "0 9 * * *" and row[1:] == (False, True)


def test_flow_runs_take_the_prefect_3_deployment_criteria(store, fleet, flow):
    dep = D.read_deployment_by_name(store, "a", "etl")
    flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id))
    for criteria in ({"flow_or_deployment_name": {"like_": "et"}}, {"is_schedule_active": {"eq_": False}}):
        assert flow_runs.read_flow_runs(store, deployment_filter=criteria).height == 1


def test_reimporting_2_10_bodies_keeps_the_schedule_ids(store):
    from pathlib import Path

    from deploykit.io import import_prefect_api

    fixtures = Path(__file__).parent / "fixtures" / "prefect-2.10"
    import_prefect_api(store, fixtures)
    first = store.sql("SELECT id, deployment_id, schedule FROM deployment_schedule ORDER BY id")
    import_prefect_api(store, fixtures)
    assert first.height > 0
    assert store.sql("SELECT id, deployment_id, schedule FROM deployment_schedule ORDER BY id").equals(first)


def test_parquet_round_trip_keeps_many_schedules(store, flow, tmp_path):
    from deploykit.io import export_parquet, import_parquet

    dep = _two(store, flow)
    export_parquet(store, tmp_path / "out")
    with dk.Store() as other:
        import_parquet(other, tmp_path / "out", progress=False)
        back = D.read_deployment(other, dep.id)
        assert back == D.read_deployment(store, dep.id)
