"""Property tests: run_metrics against a pure-Python reference on random runs, and periods
against Polars' own ``dt.truncate``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from history_reference import Run, metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deploykit as dk
from deploykit.history import run_metrics
from deploykit.models import deployments, flow_runs, flows

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=3)
STATES = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED"]

seconds = st.integers(min_value=0, max_value=4 * 86_400_000_000).map(
    lambda us: T0 + timedelta(microseconds=us)
)
run_strategy = st.tuples(
    st.integers(0, 2),  # deployment
    st.sampled_from(STATES),
    seconds,  # expected start
    st.one_of(st.none(), st.integers(-600, 7200)),  # start offset, seconds
    st.one_of(st.none(), st.integers(0, 36_000_000_000)),  # duration, microseconds
)


@pytest.fixture(scope="module")
def fleet():
    with dk.Store() as store:
        flow = flows.create_flow(store, dk.Flow(name="f"))
        deps = [
            deployments.create_deployment(store, dk.Deployment(name=f"d{i}", flow_id=flow.id))
            for i in range(3)
        ]
        yield store, flow, deps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(run_strategy, max_size=25),
    metric=st.sampled_from(["duration", "lateness"]),
    by=st.sampled_from([None, "deployment_id", "state_type"]),
    every=st.sampled_from([None, "1d", "6h"]),
)
def test_run_metrics_equals_reference(fleet, runs, metric, by, every):
    store, flow, deps = fleet
    store.cursor().execute("DELETE FROM flow_run")
    reference = []
    for i, (dep, state, expected, offset, duration) in enumerate(runs):
        start = None if offset is None else expected + timedelta(seconds=offset)
        end = None if start is None or duration is None else start + timedelta(microseconds=duration)
        run = flow_runs.create_flow_run(
            store,
            dk.FlowRun(
                flow_id=flow.id,
                deployment_id=deps[dep].id,
                state_type=state,
                expected_start_time=expected,
                start_time=start,
                end_time=end,
                name=f"r{i}",
            ),
        )
        reference.append(Run(str(run.id), str(deps[dep].id), "f", None, state, expected, start, end))
    got = run_metrics(store, metric, by=by, every=every, as_of=AS_OF)
    groups: dict[tuple, list[float]] = {}
    for r in reference:
        value = r.duration() if metric == "duration" else r.lateness(AS_OF)
        if value is None:
            continue
        key = ()
        if by is not None:
            key += (r.deployment_id if by == "deployment_id" else r.state_type,)
        if every is not None:
            hours = 24 if every == "1d" else 6
            key += (
                r.expected.replace(hour=r.expected.hour // hours * hours, minute=0, second=0, microsecond=0),
            )
        groups.setdefault(key, []).append(value)
    if by is None and every is None:
        groups.setdefault((), [])
    keys = [k for k in (by, "period" if every else None) if k]
    assert got.height == len(groups)
    for row in got.iter_rows(named=True):
        expected = metrics(groups[tuple(row[k] for k in keys)])
        for name, value in expected.items():
            assert row[name] == (pytest.approx(value, rel=1e-9, abs=1e-6) if value is not None else None), (
                name
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    times=st.lists(
        st.integers(min_value=-20 * 365 * 86_400, max_value=60 * 365 * 86_400).map(
            lambda s: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=s % 997)
        ),
        min_size=1,
        max_size=20,
    ),
    every=st.sampled_from(
        ["1d", "2d", "7d", "1w", "2w", "3w", "90m", "1h30m", "5h", "45s", "1mo", "2mo", "1q", "1y"]
    ),
)
def test_periods_equal_polars_truncate(fleet, times, every):
    store, flow, deps = fleet
    store.cursor().execute("DELETE FROM flow_run")
    for i, t in enumerate(times):
        run = dk.FlowRun(
            flow_id=flow.id, deployment_id=deps[0].id, state_type="COMPLETED",
            expected_start_time=t, start_time=t, end_time=t, name=f"r{i}",
        )  # fmt: skip
        flow_runs.create_flow_run(store, run)
    got = run_metrics(store, "duration", every=every)
    expected = pl.Series(times, dtype=pl.Datetime("us", "UTC")).dt.truncate(every).value_counts(sort=False)
    assert dict(zip(got["period"], got["count"], strict=True)) == dict(expected.iter_rows())
