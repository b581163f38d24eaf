"""Imported values that would crash later reads are refused at import (issue 15, item 3).

Each case names the file, the row, the field and the value, and leaves the store as it
was; the same rules hold for Prefect API bodies and Prefect server databases, since
both go through the models' one writer.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from tests_support import refused

import deploykit as dk
from deploykit.io import SourceError, import_prefect_api, import_prefect_db
from deploykit.models import flow_runs, flows

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"

CASES = [
    ("flows", "created", "1e999", "inf"),
    ("flow_runs", "start_time", '"-infinity"', "-infinity"),
    ("flow_runs", "expected_start_time", '"99999-01-01T00:00:00Z"', "99999-01-01"),
]


@pytest.mark.parametrize(("kind", "field", "literal", "shown"), CASES)
def test_api_bodies_with_values_later_reads_cannot_hold_are_refused(
    store, flow, tmp_path, kind, field, literal, shown
):
    path = tmp_path / f"api-{kind}.json"
    rows = json.loads((FIXTURES / path.name).read_text())
    rows[0][field] = "__HOSTILE__"
    path.write_text(json.dumps(rows).replace('"__HOSTILE__"', literal))
    refused(store, lambda: import_prefect_api(store, tmp_path), str(path), rows[0]["id"], field, shown)


def test_a_name_given_as_a_json_object_is_refused_not_stored_as_its_repr(store, flow, tmp_path):
    path = tmp_path / "api-flows.json"
    rows = json.loads((FIXTURES / path.name).read_text())
    rows[1]["name"] = {"a": 1}
    path.write_text(json.dumps(rows))
    refused(store, lambda: import_prefect_api(store, tmp_path), str(path), rows[1]["id"], "name", '{"a": 1}')
    assert flows.read_flow_by_name(store, "{'a': 1}") is None


@pytest.mark.parametrize(("kind", "field", "literal", "shown"), CASES)
def test_prefect_databases_with_values_later_reads_cannot_hold_are_refused(
    store, flow, tmp_path, kind, field, literal, shown
):
    path = tmp_path / "prefect.db"
    shutil.copy(FIXTURES / "prefect.db", path)
    table = {"flows": "flow", "flow_runs": "flow_run"}[kind]
    with sqlite3.connect(path) as conn:
        [(row_id,)] = conn.execute(f"SELECT id FROM {table} ORDER BY id LIMIT 1").fetchall()
        value = float("inf") if literal == "1e999" else json.loads(literal)
        conn.execute(f"UPDATE {table} SET {field} = ? WHERE id = ?", (value, row_id))
    conn.close()
    refused(store, lambda: import_prefect_db(store, path, progress=False), str(path), row_id, field, shown)


def test_after_a_refused_import_every_read_still_works(store, flow, tmp_path):
    path = tmp_path / "api-flow_runs.json"
    rows = json.loads((FIXTURES / path.name).read_text())
    rows[0]["start_time"] = "-infinity"
    path.write_text(json.dumps(rows))
    with pytest.raises(SourceError):
        import_prefect_api(store, tmp_path)
    assert dk.to_models(flow_runs.read_flow_runs(store), dk.FlowRun) == []
    assert flows.read_flow(store, flow.id) == flow


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("flows", "created", "9999-12-31T23:59:59-14:00"),
        ("work_pools", "updated", "0001-01-01T00:00:00+14:00"),
        ("flow_runs", "expected_start_time", "9999-12-31T23:00:00-05:00"),
        ("flow_runs", "start_time", "2024-06-01 00:00:00 (BC)"),  # DuckDB's year() says 2024
    ],
)
def test_times_whose_utc_instant_leaves_years_1_to_9999_are_refused_naming_them(
    store, flow, tmp_path, kind, field, value
):
    """Valid ISO texts whose offset carries them past year 9999 (or before year 1) in UTC
    were a raw OverflowError while the body was read, or stored as a BC time that every
    later read of the row failed on."""
    for body in FIXTURES.glob("api-*.json"):
        shutil.copy(body, tmp_path / body.name)
    path = tmp_path / f"api-{kind}.json"
    rows = json.loads(path.read_text())
    rows[0][field] = value
    path.write_text(json.dumps(rows))
    refused(store, lambda: import_prefect_api(store, tmp_path), str(path), rows[0]["id"], field, value)
