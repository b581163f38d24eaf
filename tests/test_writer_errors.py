"""A constraint failing inside a bulk write surfaces as a deploykit error naming the row and
field, never as DuckDB's "Current transaction is aborted" (issue 15, item 6)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import duckdb
import polars as pl
import pytest
from conftest import assert_unchanged, snapshot

import deploykit as dk
from deploykit.io import import_prefect_api
from deploykit.models import deployments as D
from deploykit.models import flows
from deploykit.models.writer import registered

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"


def _refused(store, call, error, *words):
    before = snapshot(store)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, dk.DeploykitError) or error is ValueError
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert "aborted" not in str(info.value)
    assert_unchanged(before, store)


@pytest.fixture
def existing(store, flow):
    return D.create_deployment(store, dk.Deployment(name="kept", flow_id=flow.id))


def test_dangling_work_queue_id(store, flow, existing):
    queue = str(uuid4())
    frame = pl.DataFrame({"name": ["new"], "flow_id": [str(flow.id)], "work_queue_id": [queue]})
    _refused(
        store, lambda: D.create_deployments(store, frame), dk.IntegrityError, "new", "work_queue_id", queue
    )


def test_an_id_used_by_another_deployment(store, flow, existing):
    frame = pl.DataFrame({"name": ["new"], "flow_id": [str(flow.id)], "id": [str(existing.id)]})
    _refused(
        store, lambda: D.create_deployments(store, frame), dk.IntegrityError, str(existing.id), "already used"
    )


@pytest.mark.parametrize(
    ("column", "dtype"),
    [("tags", pl.List(pl.String)), ("parameters", pl.String), ("is_schedule_active", pl.Boolean)],
)
def test_null_in_a_required_column(store, flow, existing, column, dtype):
    frame = pl.DataFrame({"name": ["new"], "flow_id": [str(flow.id)], column: pl.Series([None], dtype=dtype)})
    _refused(store, lambda: D.create_deployments(store, frame), ValueError, "new", column, "null")


def test_null_in_a_required_column_of_an_update(store, flow, existing):
    frame = pl.DataFrame(
        {"name": ["kept"], "flow_id": [str(flow.id)], "tags": pl.Series([None], dtype=pl.List(pl.String))}
    )
    _refused(store, lambda: D.create_deployments(store, frame), ValueError, "kept", "tags", "null")


def test_schedule_all_on_a_read_only_store_shows_the_cause(tmp_path):
    path = tmp_path / "s.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="f"))
        D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id, schedule={"interval": 3600}))
    with dk.Store(path, read_only=True) as store, pytest.raises(Exception, match="read-only") as info:
        D.schedule_all(store, start_time=datetime(2023, 1, 1, tzinfo=UTC))
    assert "aborted" not in str(info.value)


def test_an_import_naming_a_missing_queue(store, flow, tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "api", ignore=shutil.ignore_patterns("*.db", "*.md"))
    path = tmp_path / "api" / "api-deployments.json"
    rows = json.loads(path.read_text())
    missing = str(uuid4())
    rows[0]["work_queue_id"] = missing
    rows[0].pop("work_pool_name", None)
    path.write_text(json.dumps(rows))
    _refused(
        store,
        lambda: import_prefect_api(store, tmp_path / "api"),
        dk.IntegrityError,
        rows[0]["id"],
        "work_queue_id",
        missing,
    )


def test_an_import_reusing_a_stored_deployments_name_under_another_id(store, flow, tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "api", ignore=shutil.ignore_patterns("*.db", "*.md"))
    import_prefect_api(store, tmp_path / "api")
    path = tmp_path / "api" / "api-deployments.json"
    rows = json.loads(path.read_text())
    rows[0]["id"] = str(uuid4())
    path.write_text(json.dumps(rows))
    _refused(
        store,
        lambda: import_prefect_api(store, tmp_path / "api"),
        dk.IntegrityError,
        rows[0]["id"],
        "flow_id, name",
        "already used",
    )


def test_registered_lets_the_cause_through(store):
    cur = store.cursor()
    cur.execute("CREATE TEMP TABLE t (x INTEGER PRIMARY KEY)")
    cur.begin()
    with pytest.raises(duckdb.ConstraintException), registered(cur, "src", pl.DataFrame({"x": [1, 1]})):
        cur.execute("INSERT INTO t SELECT x FROM src")
    cur.rollback()
