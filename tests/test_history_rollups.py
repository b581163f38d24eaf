"""The run-history rollups (schema 5) give exactly what the queries over every run give.

Each check computes a call twice: through the rollups (what users get) and with them
switched off (``ROLLUPS = False``: the query over the runs, as before schema 5), and
wants equal frames. Histories are changed through every path that writes or deletes
flow runs; the rollups are checked both kept current at once (``STALE_LIMIT = 0``) and
left stale (readers then compute the changed deployments from their runs).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import deploykit as dk
from deploykit.history import _health, _metrics, deployment_health, run_metrics
from deploykit.io import import_prefect_api, import_prefect_db, sync_prefect
from deploykit.models import _rollups, deployments, flow_runs, flows
from deploykit.models.writer import Writer

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).parents[1] / "data"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
STATES = ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@contextlib.contextmanager
def rollups(enabled: bool) -> Iterator[None]:
    before = _health.ROLLUPS, _metrics.ROLLUPS
    _health.ROLLUPS = _metrics.ROLLUPS = enabled
    try:
        yield
    finally:
        _health.ROLLUPS, _metrics.ROLLUPS = before


@contextlib.contextmanager
def stale_limit(limit: int) -> Iterator[None]:
    before = _rollups.STALE_LIMIT
    _rollups.STALE_LIMIT = limit
    try:
        yield
    finally:
        _rollups.STALE_LIMIT = before


CALLS = {
    "health": lambda s, as_of: deployment_health(s, as_of=as_of),
    "health late after 1h": lambda s, as_of: deployment_health(s, as_of=as_of, late_after=3600),
    "health filtered": lambda s, as_of: deployment_health(
        s, as_of=as_of, deployment_filter={"name": {"any_": ["a", "c"]}}
    ),
    "duration by deployment and day": lambda s, as_of: run_metrics(
        s, "duration", by="deployment_id", every="1d", as_of=as_of
    ),
    "duration by deployment and day, whole days": lambda s, as_of: run_metrics(
        s, "duration", by="deployment_id", every="1d", since=T0, until=T0 + timedelta(days=2), as_of=as_of
    ),
    "duration by deployment and day, filtered": lambda s, as_of: run_metrics(
        s, "duration", by="deployment_id", every="1d", deployment_filter={"name": {"any_": ["b"]}}
    ),
}


def assert_same(rolled: pl.DataFrame, raw: pl.DataFrame) -> None:
    """Equal frames; a ``mean`` to the last bits only (DuckDB's ``avg`` of doubles depends on
    the order it adds them in, which is not fixed even between two runs of one query)."""
    assert_frame_equal(rolled.drop("mean", strict=False), raw.drop("mean", strict=False), check_exact=True)
    if "mean" in raw.columns:
        assert_frame_equal(rolled.select("mean"), raw.select("mean"), rel_tol=1e-12, abs_tol=0)


def assert_exact(store: dk.Store, as_ofs: list[datetime]) -> None:
    """Every call gives the same frame through the rollups and over the runs."""
    for as_of in as_ofs:
        for name, call in CALLS.items():
            with rollups(True):
                rolled = call(store, as_of)
            with rollups(False):
                raw = call(store, as_of)
            try:
                assert_same(rolled, raw)
            except AssertionError as exc:
                raise AssertionError(f"{name} as of {as_of}: {exc}") from None


def stale(store: dk.Store) -> int:
    return store.sql("SELECT count(*) AS n FROM run_rollup_stale")["n"][0]


@pytest.mark.parametrize("limit", [0, 10**9])
def test_sample_data_and_fixtures(limit):
    with stale_limit(limit):
        with dk.Store() as store:
            import_prefect_api(store, SAMPLE)
            assert limit or stale(store) == 0
            assert_exact(store, [datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC)])
            import_prefect_api(store, SAMPLE)  # the re-import: unchanged
            assert_exact(store, [datetime(2023, 6, 1, tzinfo=UTC)])
        for release in ("prefect-2.10", "prefect-3.x"):
            with dk.Store() as store:
                import_prefect_db(store, FIXTURES / release / "prefect.db", progress=False)
                assert_exact(store, [datetime(2026, 11, 27, 22, 41, tzinfo=UTC), T0])


def test_rollups_are_read_and_current_after_a_bulk_write():
    """Kept current, the rollups hold every deployment with runs and nothing is stale."""
    with stale_limit(0), dk.Store() as store:
        import_prefect_api(store, SAMPLE)
        assert stale(store) == 0
        with_runs = store.sql("SELECT count(DISTINCT deployment_id) AS n FROM flow_run")["n"][0]
        assert store.sql("SELECT count(*) AS n FROM run_rollup_deployment")["n"][0] == with_runs > 0
        days = store.sql("SELECT pos FROM run_rollup_day ORDER BY pos")["pos"]
        assert days.to_list() == list(range(1, days.len() + 1))


def test_sync_with_deleted_runs(tmp_path):
    from test_sync import _edit_source

    db = tmp_path / "prefect.db"
    shutil.copy(FIXTURES / "prefect-2.10" / "prefect.db", db)
    with stale_limit(0), dk.Store(tmp_path / "s.duckdb") as store:
        sync_prefect(store, db, progress=False)
        before = deployment_health(store)["runs"].sum()
        _edit_source(db)
        sync_prefect(store, db, progress=False)
        assert stale(store) == 0
        assert_exact(store, [datetime(2026, 11, 27, 22, 41, tzinfo=UTC)])
        assert deployment_health(store)["runs"].sum() == before  # 2 deleted, 2 inserted


# --- random histories changed step by step ----------------------------------------------

_minutes = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: m - m % 7)
_run = st.tuples(
    st.integers(0, 2),  # deployment
    st.sampled_from(STATES),
    st.one_of(st.none(), _minutes),  # expected start
    st.one_of(st.none(), st.integers(0, 120)),  # start after expected (minutes)
    st.one_of(st.none(), st.integers(0, 600)),  # duration (minutes)
)
_step = st.one_of(
    st.tuples(st.just("run"), _run),
    st.tuples(st.just("runs"), st.lists(_run, min_size=1, max_size=4)),
    st.tuples(st.just("state"), st.integers(0, 50), st.sampled_from(STATES), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 2)),
    st.tuples(st.just("schedule"), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 2)),
)


def _flow_run(flow: dk.Flow, deployment_id, run) -> dk.FlowRun:
    _, state, expected, late, duration = run
    expected_at = None if expected is None else T0 + timedelta(minutes=expected)
    start = None
    if late is not None and state not in ("SCHEDULED", "PENDING"):
        start = (expected_at or T0) + timedelta(minutes=late)
    end = None if start is None or duration is None else start + timedelta(minutes=duration)
    return dk.FlowRun(
        flow_id=flow.id,
        deployment_id=deployment_id,
        state_type=state,
        expected_start_time=expected_at,
        start_time=start,
        end_time=end,
    )


def apply(store: dk.Store, flow: dk.Flow, deps: list, step: tuple) -> None:
    """One change of the history through a public path (or the writer the importers use)."""
    kind = step[0]
    runs = store.sql("SELECT id FROM flow_run ORDER BY id")["id"].to_list()
    if kind == "run":
        flow_runs.create_flow_run(store, _flow_run(flow, deps[step[1][0]].id, step[1]))
    elif kind == "runs":
        flow_runs.create_flow_runs(store, [_flow_run(flow, deps[r[0]].id, r) for r in step[1]])
    elif kind == "state" and runs:
        row = {"id": runs[step[1] % len(runs)], "state_type": step[2], "state_name": step[2].title()}
        with store.transaction() as cur:
            if step[3]:  # the one-row path
                Writer(cur).update_row("flow_run", row, source="test")
            else:  # the staged path of the importers
                writer = Writer(cur)
                writer.write(
                    "flow_run", pl.DataFrame([row]), source="test", update=("state_type", "state_name")
                )
                writer.finish("test")
    elif kind == "move" and runs:
        row = {"id": runs[step[1] % len(runs)], "deployment_id": str(deps[step[2]].id)}
        with store.transaction() as cur:
            Writer(cur).update_row("flow_run", row, source="test")
    elif kind == "schedule":
        deployments.schedule_runs(store, deps[step[1]].id, start_time=T0, end_time=T0 + timedelta(hours=30))
    elif kind == "delete":
        deployments.delete_deployment(store, deps[step[1]].id)


def _fleet(store: dk.Store) -> tuple[dk.Flow, list]:
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    deps = [
        deployments.create_deployment(
            store,
            dk.Deployment(
                name=name,
                flow_id=flow.id,
                schedules=[dk.DeploymentSchedule(schedule=dk.IntervalSchedule(interval=timedelta(hours=7)))],
            ),
        )
        for name in ("a", "b", "c")
    ]
    return flow, deps


AS_OFS = [T0 - timedelta(days=1), T0 + timedelta(hours=13, minutes=2), T0 + timedelta(days=4)]


@pytest.mark.parametrize("limit", [0, 2])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=8))
def test_random_histories_changed_step_by_step(limit, steps):
    with stale_limit(limit), dk.Store() as store:
        flow, deps = _fleet(store)
        for step in steps:
            try:
                apply(store, flow, deps, step)
            except (ValueError, dk.IntegrityError, dk.ObjectNotFoundError):
                continue  # a write the rules refuse (a run of a deleted deployment) changes nothing
            assert_exact(store, AS_OFS)


def test_a_missing_mark_is_caught(monkeypatch):
    """Without the writer's marks the rollups go wrong (so the checks above see them)."""
    with stale_limit(0), dk.Store() as store:
        flow, deps = _fleet(store)
        apply(store, flow, deps, ("run", (0, "COMPLETED", 60, 1, 10)))
        monkeypatch.setattr(_rollups, "mark_ids", lambda cur, ids: None)
        apply(store, flow, deps, ("run", (0, "FAILED", 120, 1, 30)))
        with pytest.raises(AssertionError):
            assert_exact(store, AS_OFS)


# --- the migration from schema 4 ----------------------------------------------------------


def test_migration_from_schema_4_builds_the_rollups(tmp_path):
    path = tmp_path / "v4.duckdb"
    with stale_limit(10**9), dk.Store(path) as store:
        import_prefect_api(store, SAMPLE)
        expected = {name: call(store, datetime(2023, 6, 1, tzinfo=UTC)) for name, call in CALLS.items()}
    con = duckdb.connect(str(path))
    for table in ("run_rollup_deployment", "run_rollup_day", "run_rollup_day_ids", "run_rollup_stale"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE deploykit_meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    with dk.Store(path) as store:
        assert stale(store) == 0
        assert store.sql("SELECT count(*) AS n FROM run_rollup_deployment")["n"][0] > 0
        for name, call in CALLS.items():
            with rollups(True):
                assert_same(call(store, datetime(2023, 6, 1, tzinfo=UTC)), expected[name])
        assert_exact(store, [datetime(2023, 6, 1, tzinfo=UTC)])
