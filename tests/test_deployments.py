"""The seed's deployment operations, case by case (Prefect 2.10's own tests plus SPEC.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import polars as pl
import pytest
from tests_support import new_deployment

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, task_runs, work_pools, work_queues
from deploykit.schemas.core import CreatedBy


def ids(df: pl.DataFrame) -> list[UUID]:
    return [UUID(i) for i in df["id"]]


# --- create_deployment ------------------------------------------------------------------------


def test_create_stores_every_field(store, flow):
    dep = dk.Deployment(
        name="d",
        flow_id=flow.id,
        version="1.2",
        description="desc",
        schedule={"interval": 3600, "anchor_date": "2023-01-01T00:00:00+00:00", "timezone": "UTC"},
        parameters={"x": [1, {"y": None}]},
        tags=["a", "b"],
        path="/p",
        entrypoint="f.py:main",
        flow_runner={"type": "docker", "config": {"image": "x"}},
        created_by={"id": uuid4(), "type": "USER", "display_value": "me"},
        pull_steps=[{"step": {"k": 1}}],
    )
    got = D.create_deployment(store, dep)
    assert got.model_dump(exclude={"created", "updated"}) == dep.model_dump(exclude={"created", "updated"})
    assert got.created is not None and got.updated is not None
    assert got.created.tzinfo is not None


def test_upsert_merges_only_set_fields_and_keeps_identity(store, flow):
    first = new_deployment(
        store,
        flow,
        "d",
        tags=["a"],
        description="keep me",
        version="1",
        created_by=CreatedBy(display_value="alice"),
    )
    second = D.create_deployment(
        store,
        dk.Deployment(
            id=uuid4(),
            name="d",
            flow_id=flow.id,
            version="2",
            created_by=CreatedBy(display_value="mallory"),
        ),
    )
    assert second.id == first.id
    assert second.created == first.created
    assert second.created_by == first.created_by
    assert second.version == "2"
    assert second.tags == ["a"] and second.description == "keep me"
    assert second.updated > first.updated
    assert D.count_deployments(store) == 1


def test_upsert_can_clear_a_field_explicitly(store, flow):
    D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, description="x"))
    got = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, description=None))
    assert got.description is None


def test_work_queue_is_ensured_and_linked(store, flow):
    got = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="wq"))
    queue = work_queues.read_work_queue_by_name(store, "wq")
    assert queue is not None and got.work_queue_id == queue.id
    pool = work_pools.read_work_pool_by_name(store, "default-agent-pool")
    assert queue.work_pool_id == pool.id
    # a second deployment on the same queue reuses it
    other = D.create_deployment(store, dk.Deployment(name="e", flow_id=flow.id, work_queue_name="wq"))
    assert other.work_queue_id == queue.id
    assert store.sql("SELECT count(*) AS n FROM work_queue WHERE name = 'wq'")["n"][0] == 1


def test_existing_queue_in_another_pool_is_found(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    queue = work_queues.create_work_queue(store, dk.WorkQueue(name="gpu", work_pool_id=pool.id))
    got = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="gpu"))
    assert got.work_queue_id == queue.id


def test_default_pool_queue_wins_over_other_pools(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    work_queues.create_work_queue(store, dk.WorkQueue(name="shared", work_pool_id=pool.id))
    in_default = work_queues.create_work_queue(store, dk.WorkQueue(name="shared"))
    got = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="shared"))
    assert got.work_queue_id == in_default.id


def _scheduled_run(store, dep, *, auto: bool, state: str = "SCHEDULED") -> dk.FlowRun:
    return flow_runs.create_flow_run(
        store,
        dk.FlowRun(
            flow_id=dep.flow_id,
            deployment_id=dep.id,
            state_type=state,
            auto_scheduled=auto,
            expected_start_time=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    )


def test_upsert_deletes_auto_scheduled_runs_only(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    auto = _scheduled_run(store, dep, auto=True)
    manual = _scheduled_run(store, dep, auto=False)
    done = _scheduled_run(store, dep, auto=True, state="COMPLETED")
    D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, tags=["new"]))
    assert flow_runs.read_flow_run(store, auto.id) is None
    assert flow_runs.read_flow_run(store, manual.id) is not None
    assert flow_runs.read_flow_run(store, done.id) is not None


def test_bulk_upsert_updates_matched_rows_and_inserts_the_rest(store, flow):
    fid = str(flow.id)
    D.create_deployments(
        store,
        pl.DataFrame(
            {
                "name": ["same", "retag", "requeue", "untouched"],
                "flow_id": [fid] * 4,
                "tags": [["a"]] * 4,
                "work_queue_name": ["q1"] * 4,
                "description": ["old"] * 4,
                "parameters": ['{"x": 1}'] * 4,
            }
        ),
    )
    before = {r["name"]: r for r in D.read_deployments(store).iter_rows(named=True)}
    auto = _scheduled_run(store, D.read_deployment(store, before["same"]["id"]), auto=True)
    written = D.create_deployments(
        store,
        pl.DataFrame(
            {
                "name": ["same", "retag", "requeue", "new"],
                "flow_id": [fid] * 4,
                "tags": [["a"], ["b", "c"], ["a"], []],
                "work_queue_name": ["q1", "q1", "q2", "q2"],
                "description": ["new"] * 4,
            }
        ),
    )
    assert written == 4
    after = {r["name"]: r for r in D.read_deployments(store).iter_rows(named=True)}
    assert set(after) == {"same", "retag", "requeue", "untouched", "new"}
    queues = {q["name"]: q["id"] for q in work_queues.read_work_queues(store).iter_rows(named=True)}
    expected = {
        "same": (["a"], "q1"),
        "retag": (["b", "c"], "q1"),
        "requeue": (["a"], "q2"),
        "new": ([], "q2"),
        "untouched": (["a"], "q1"),
    }
    for name, (tags, queue) in expected.items():
        row = after[name]
        assert (row["tags"], row["work_queue_name"], row["work_queue_id"]) == (tags, queue, queues[queue]), (
            name
        )
    for name in ("same", "retag", "requeue"):
        old, row = before[name], after[name]
        assert (row["id"], row["created"]) == (old["id"], old["created"]), name
        assert row["updated"] > old["updated"], name
        assert row["description"] == "new" and row["parameters"] == '{"x": 1}', name
    assert after["untouched"] == before["untouched"]
    assert after["new"]["description"] == "new" and after["new"]["parameters"] == "{}"
    assert flow_runs.read_flow_run(store, auto.id) is None


def test_dangling_flow_id_is_rejected_and_nothing_written(store):
    from conftest import assert_unchanged, snapshot

    before = snapshot(store)
    missing = uuid4()
    with pytest.raises(dk.IntegrityError, match=str(missing)):
        D.create_deployment(store, dk.Deployment(name="d", flow_id=missing, work_queue_name="q"))
    assert_unchanged(before, store)


def test_dangling_work_queue_id_is_rejected(store, flow):
    missing = uuid4()
    with pytest.raises(dk.IntegrityError, match="work_queue_id"):
        D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_id=missing))
    assert D.count_deployments(store) == 0


def test_create_accepts_a_dict_and_rejects_other_types(store, flow):
    got = D.create_deployment(store, {"name": "d", "flow_id": str(flow.id)})
    assert got.name == "d"
    with pytest.raises(TypeError, match="deployment must be a Deployment"):
        D.create_deployment(store, 42)


# --- reads ------------------------------------------------------------------------------------


def test_read_deployment_and_missing(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    assert D.read_deployment(store, dep.id) == dep
    assert D.read_deployment(store, str(dep.id)) == dep
    assert D.read_deployment(store, uuid4()) is None


def test_read_by_name_never_crosses_flows(store):
    f1 = flows.create_flow(store, dk.Flow(name="f1"))
    f2 = flows.create_flow(store, dk.Flow(name="f2"))
    d1 = D.create_deployment(store, dk.Deployment(name="same", flow_id=f1.id))
    d2 = D.create_deployment(store, dk.Deployment(name="same", flow_id=f2.id))
    assert D.read_deployment_by_name(store, "same", "f1").id == d1.id
    assert D.read_deployment_by_name(store, "same", "f2").id == d2.id
    assert D.read_deployment_by_name(store, "same", "f3") is None
    assert D.read_deployment_by_name(store, "other", "f1") is None


class TestReadDeployments:
    """Prefect's three-deployment filter cases."""

    @pytest.fixture
    def data(self, store, flow):
        self.d1, self.d2, self.d3 = uuid4(), uuid4(), uuid4()
        D.create_deployment(store, dk.Deployment(id=self.d1, name="My Deployment", flow_id=flow.id))
        D.create_deployment(
            store,
            dk.Deployment(id=self.d2, name="Another Deployment", flow_id=flow.id, tags=["tb12"]),
        )
        D.create_deployment(
            store,
            dk.Deployment(
                id=self.d3,
                name="Yet Another Deployment",
                flow_id=flow.id,
                tags=["tb12", "goat"],
                is_schedule_active=False,
            ),
        )
        return store

    def test_all(self, data):
        df = D.read_deployments(data)
        assert df.height == 3 and D.count_deployments(data) == 3
        assert df["name"].to_list() == sorted(df["name"].to_list())

    def test_limit(self, data):
        assert D.read_deployments(data, limit=1).height == 1

    def test_offset_sorted_by_name(self, data):
        assert ids(D.read_deployments(data, offset=1)) == [self.d1, self.d3]

    def test_empty_store(self, store):
        assert D.read_deployments(store).height == 0

    def test_by_id(self, data):
        f = dk.DeploymentFilter(id=dk.DeploymentFilterId(any_=[self.d1]))
        assert ids(D.read_deployments(data, deployment_filter=f)) == [self.d1]

    def test_by_name(self, data):
        f = dk.DeploymentFilter(name=dk.DeploymentFilterName(any_=["My Deployment"]))
        assert ids(D.read_deployments(data, deployment_filter=f)) == [self.d1]

    def test_by_name_like_is_case_insensitive_substring(self, data):
        f = dk.DeploymentFilter(name=dk.DeploymentFilterName(like_="another"))
        assert set(ids(D.read_deployments(data, deployment_filter=f))) == {self.d2, self.d3}

    @pytest.mark.parametrize("active,expected", [(False, ["d3"]), (True, ["d1", "d2"])])
    def test_by_schedule_active(self, data, active, expected):
        f = dk.DeploymentFilter(is_schedule_active={"eq_": active})
        assert set(ids(D.read_deployments(data, deployment_filter=f))) == {getattr(self, e) for e in expected}

    @pytest.mark.parametrize(
        "tags,expected",
        [
            ({"all_": ["goat"]}, ["d3"]),
            ({"all_": ["tb12"]}, ["d2", "d3"]),
            ({"all_": ["tb12", "goat"]}, ["d3"]),
            ({"is_null_": True}, ["d1"]),
            ({"is_null_": False}, ["d2", "d3"]),
            ({"all_": ["goat"], "is_null_": True, "operator": "or_"}, ["d1", "d3"]),
        ],
    )
    def test_by_tags(self, data, tags, expected):
        f = dk.DeploymentFilter(tags=tags)
        got = set(ids(D.read_deployments(data, deployment_filter=f)))
        assert got == {getattr(self, e) for e in expected}
        assert D.count_deployments(data, deployment_filter=f) == len(expected)

    def test_operator_or_across_criteria(self, data):
        f = dk.DeploymentFilter(operator="or_", id={"any_": [self.d1]}, tags={"all_": ["goat"]})
        assert set(ids(D.read_deployments(data, deployment_filter=f))) == {self.d1, self.d3}

    def test_by_flow(self, data, flow):
        assert D.read_deployments(data, flow_filter={"id": {"any_": [flow.id]}}).height == 3
        assert D.read_deployments(data, flow_filter={"id": {"any_": [uuid4()]}}).height == 0
        assert D.count_deployments(data, flow_filter={"name": {"like_": "MY-"}}) == 3

    def test_by_flow_run_and_task_run_use_one_flow_run(self, data, flow):
        run1 = flow_runs.create_flow_run(
            data, dk.FlowRun(flow_id=flow.id, deployment_id=self.d1, state_type="FAILED")
        )
        run2 = flow_runs.create_flow_run(
            data, dk.FlowRun(flow_id=flow.id, deployment_id=self.d2, state_type="COMPLETED")
        )
        task2 = task_runs.create_task_run(
            data, dk.TaskRun(flow_run_id=run2.id, task_key="t", state_type="COMPLETED")
        )
        by_run = dk.FlowRunFilter(id=dk.FlowRunFilterId(any_=[run1.id]))
        assert ids(D.read_deployments(data, flow_run_filter=by_run)) == [self.d1]
        by_task = dk.TaskRunFilter(id=dk.TaskRunFilterId(any_=[task2.id]))
        assert ids(D.read_deployments(data, task_run_filter=by_task)) == [self.d2]
        # run1 matches the run filter, run2 has the task: no single run satisfies both
        assert D.read_deployments(data, flow_run_filter=by_run, task_run_filter=by_task).height == 0
        both = dk.FlowRunFilter(id={"any_": [run2.id]})
        assert ids(D.read_deployments(data, flow_run_filter=both, task_run_filter=by_task)) == [self.d2]
        failed = {"state": {"type": {"any_": ["FAILED"]}}}
        assert D.count_deployments(data, flow_run_filter=failed) == 1

    def test_deployment_with_many_matching_runs_appears_once(self, data, flow):
        for _ in range(3):
            flow_runs.create_flow_run(data, dk.FlowRun(flow_id=flow.id, deployment_id=self.d1))
        f = {"deployment_id": {"any_": [self.d1]}}
        assert D.read_deployments(data, flow_run_filter=f).height == 1
        assert D.count_deployments(data, flow_run_filter=f) == 1

    @pytest.mark.parametrize("sort", list(dk.DeploymentSort))
    def test_sorts_break_ties_by_id(self, data, sort):
        df = D.read_deployments(data, sort=sort)
        key = {
            "NAME_ASC": "name",
            "NAME_DESC": "name",
            "CREATED_DESC": "created",
            "UPDATED_DESC": "updated",
        }
        descending = sort != "NAME_ASC"
        expected = df.sort([key[sort], "id"], descending=[descending, False])
        assert df["id"].to_list() == expected["id"].to_list()

    def test_paging_is_deterministic_on_ties(self, store):
        f1 = flows.create_flow(store, dk.Flow(name="a"))
        f2 = flows.create_flow(store, dk.Flow(name="b"))
        for f in (f1, f2):
            D.create_deployment(store, dk.Deployment(name="same", flow_id=f.id))
        pages = [D.read_deployments(store, limit=1, offset=i)["id"][0] for i in range(2)]
        assert sorted(pages) == pages and len(set(pages)) == 2


def test_work_pool_and_queue_filters(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    q = work_queues.create_work_queue(store, dk.WorkQueue(name="High-Mem", work_pool_id=pool.id))
    a = D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, work_queue_id=q.id))
    b = D.create_deployment(store, dk.Deployment(name="b", flow_id=flow.id, work_queue_name="other"))
    D.create_deployment(store, dk.Deployment(name="c", flow_id=flow.id))
    assert ids(D.read_deployments(store, work_pool_filter={"name": {"any_": ["k8s"]}})) == [a.id]
    assert ids(D.read_deployments(store, work_pool_filter={"type": {"any_": ["prefect-agent"]}})) == [b.id]
    assert ids(D.read_deployments(store, work_queue_filter={"name": {"startswith_": ["high"]}})) == [a.id]
    assert ids(D.read_deployments(store, work_queue_filter={"id": {"any_": [q.id]}})) == [a.id]
    assert (
        D.count_deployments(
            store,
            work_queue_filter={"name": {"any_": ["other"]}},
            work_pool_filter={"name": {"any_": ["k8s"]}},
        )
        == 0
    )


def test_returned_frame_shape(store, flow):
    D.create_deployment(
        store,
        dk.Deployment(name="d", flow_id=flow.id, schedule={"cron": "0 0 * * *"}, parameters={"a": 1}),
    )
    df = D.read_deployments(store)
    assert df.schema["id"] == pl.String
    assert df.schema["created"] == pl.Datetime("us", "UTC")
    assert df.schema["tags"] == pl.List(pl.String)
    assert df["schedule_type"].to_list() == ["cron"]
    assert df["parameters"].to_list() == ['{"a": 1}']
    [back] = dk.to_models(df, dk.Deployment)
    assert back == D.read_deployment(store, df["id"][0])


@pytest.mark.parametrize(
    "schedule,kind",
    [
        ({"cron": "0 9 * * 1-5", "timezone": "America/New_York", "day_or": False}, "cron"),
        (
            {
                "interval": 600.0,
                "anchor_date": "2023-01-01T09:00:00+01:00",
                "timezone": "Europe/Berlin",
            },
            "interval",
        ),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO,WE", "timezone": "Asia/Tokyo"}, "rrule"),
    ],
)
def test_schedules_round_trip(store, flow, schedule, kind):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule=schedule))
    assert dep.schedule.kind == kind
    again = D.read_deployment(store, dep.id)
    assert again.schedule == dk.Deployment(name="x", flow_id=flow.id, schedule=schedule).schedule
    assert D.read_deployments(store)["schedule_type"][0] == kind


# --- update -----------------------------------------------------------------------------------


def test_update_writes_only_set_fields(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, tags=["a"], version="1"))
    assert D.update_deployment(store, dep.id, dk.DeploymentUpdate(version="2"))
    got = D.read_deployment(store, dep.id)
    assert got.version == "2" and got.tags == ["a"] and got.updated > dep.updated


def test_update_missing_returns_false(store):
    assert D.update_deployment(store, uuid4(), dk.DeploymentUpdate(version="2")) is False


def test_update_with_pool_and_queue(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    D.update_deployment(store, dep.id, dk.DeploymentUpdate(work_pool_name="k8s", work_queue_name="new-q"))
    queue = work_queues.read_work_queue_by_name(store, "new-q", work_pool_name="k8s")
    assert queue is not None and queue.work_pool_id == pool.id
    got = D.read_deployment(store, dep.id)
    assert got.work_queue_id == queue.id and got.work_queue_name == "new-q"


def test_update_with_pool_only_uses_default_queue(store, flow):
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, work_queue_name="x"))
    D.update_deployment(store, dep.id, dk.DeploymentUpdate(work_pool_name="k8s"))
    assert D.read_deployment(store, dep.id).work_queue_id == pool.default_queue_id


def test_update_with_queue_only_ensures_queue(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    D.update_deployment(store, dep.id, {"work_queue_name": "fresh"})
    queue = work_queues.read_work_queue_by_name(store, "fresh")
    assert D.read_deployment(store, dep.id).work_queue_id == queue.id


def test_update_unknown_pool_is_an_error_and_writes_nothing(store, flow):
    from conftest import assert_unchanged, snapshot

    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    before = snapshot(store)
    with pytest.raises(dk.ObjectNotFoundError, match="nope"):
        D.update_deployment(
            store,
            dep.id,
            dk.DeploymentUpdate(work_pool_name="nope", work_queue_name="q", tags=["x"]),
        )
    assert_unchanged(before, store)


def test_update_deletes_auto_scheduled_runs(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    auto = _scheduled_run(store, dep, auto=True)
    manual = _scheduled_run(store, dep, auto=False)
    D.update_deployment(store, dep.id, dk.DeploymentUpdate(description="x"))
    assert flow_runs.read_flow_run(store, auto.id) is None
    assert flow_runs.read_flow_run(store, manual.id) is not None


def test_update_rejects_none_for_required_columns(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    with pytest.raises(ValueError, match="tags"):
        D.update_deployment(store, dep.id, dk.DeploymentUpdate(tags=None))


# --- delete -----------------------------------------------------------------------------------


def test_delete_removes_scheduled_runs_only(store, flow):
    dep = D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    auto = _scheduled_run(store, dep, auto=True)
    manual = _scheduled_run(store, dep, auto=False)
    done = _scheduled_run(store, dep, auto=True, state="COMPLETED")
    task_runs.create_task_run(store, dk.TaskRun(flow_run_id=manual.id, task_key="t"))
    assert D.delete_deployment(store, dep.id) is True
    assert D.read_deployment(store, dep.id) is None
    assert flow_runs.read_flow_run(store, auto.id) is None
    assert flow_runs.read_flow_run(store, manual.id) is None
    kept = flow_runs.read_flow_run(store, done.id)
    assert kept is not None and kept.deployment_id == dep.id
    assert store.check_integrity().height == 0
    assert D.delete_deployment(store, dep.id) is False
