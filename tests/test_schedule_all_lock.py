"""``schedule_all`` expands schedules before it takes the write lock (issue 15, item 1):
another writer is not blocked while a costly schedule is expanded, and a schedule that
changes meanwhile is still scheduled exactly as ``schedule_runs`` would."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import _fleet
from deploykit.models import deployments as D
from deploykit.models.flows import create_flow

START = datetime(2030, 1, 1, tzinfo=UTC)
WINDOW = {"start_time": START, "min_time": timedelta(hours=6), "min_runs": 1}


@pytest.fixture
def store(tmp_path):
    store = dk.Store(tmp_path / "s.duckdb", timeout=30)
    flow = create_flow(store, dk.Flow(name="etl"))
    for i in range(3):
        schedule = {"interval": 3600 * (i + 1), "anchor_date": "2030-01-01T00:00:00Z"}
        D.create_deployment(store, dk.Deployment(name=f"d{i}", flow_id=flow.id, schedule=schedule))
    yield store
    store.close()


def test_other_writers_are_not_blocked_while_schedules_expand(store, monkeypatch):
    expanding, written = threading.Event(), threading.Event()
    real = _fleet._window_dates

    def slow(texts, window):  # the first expansion waits until another thread has written
        if not expanding.is_set():
            expanding.set()
            assert written.wait(20), "a writer was blocked while schedule_all expanded schedules"
        return real(texts, window)

    monkeypatch.setattr(_fleet, "_window_dates", slow)
    result: list[pl.DataFrame] = []
    worker = threading.Thread(target=lambda: result.append(D.schedule_all(store, start_time=START)))
    worker.start()
    assert expanding.wait(20)
    create_flow(store, dk.Flow(name="written-meanwhile"))  # blocks here if the lock were held
    written.set()
    worker.join(60)
    assert result and result[0].height > 0


def test_a_schedule_changed_during_expansion_gets_its_new_runs(store, monkeypatch):
    real = _fleet._window_dates
    changed = []

    def change_once(texts, window):
        if not changed:
            changed.append(True)
            dep = D.read_deployment_by_name(store, "d0", "etl")
            D.update_deployment(
                store, dep.id, {"schedule": {"interval": 1800, "anchor_date": "2030-01-01T00:00:00Z"}}
            )
        return real(texts, window)

    monkeypatch.setattr(_fleet, "_window_dates", change_once)
    inserted = D.schedule_all(store, **WINDOW)
    monkeypatch.setattr(_fleet, "_window_dates", real)
    runs = D.read_deployments(store).select("id", "name")
    per_name = dict(
        inserted.join(runs, left_on="deployment_id", right_on="id").group_by("name").len().iter_rows()
    )
    expected = {}
    for name in ("d0", "d1", "d2"):
        dep = D.read_deployment_by_name(store, name, "etl")
        fresh = dk.Store()
        flow = create_flow(fresh, dk.Flow(name="etl"))
        copy = D.create_deployment(fresh, dk.Deployment(name=name, flow_id=flow.id, schedule=dep.schedule))
        expected[name] = len(D.schedule_runs(fresh, copy.id, **WINDOW))
    assert per_name == expected
    assert expected["d0"] > expected["d1"]  # d0 now runs every 30 minutes
