"""Bad input: each is a clear DeploykitError naming the source, and the store stays as it was."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_unchanged, snapshot
from tests_support import altered_prefect_db

import deploykit as dk
from deploykit.io import SourceError, import_parquet, import_prefect_api, import_prefect_db

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"


@pytest.fixture
def loaded(store, flow):
    """A store with content of its own: a failed import must leave it exactly so."""
    return store


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "api"
    shutil.copytree(FIXTURES, out, ignore=shutil.ignore_patterns("*.db", "*.md"))
    return out


def edit(path: Path, change) -> None:
    rows = json.loads(path.read_text())
    change(rows)
    path.write_text(json.dumps(rows))


def expect(store, call, error, *words):
    before = snapshot(store)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, dk.DeploykitError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert "\n" not in str(info.value)
    assert_unchanged(before, store)


def test_truncated_json(loaded, folder):
    path = folder / "api-flow_runs.json"
    path.write_text(path.read_text()[:5000])
    expect(
        loaded, lambda: import_prefect_api(loaded, folder), SourceError, "api-flow_runs.json", "invalid JSON"
    )


def test_wrong_kind(loaded, folder):
    shutil.copy(folder / "api-deployments.json", folder / "api-flows.json")
    expect(
        loaded,
        lambda: import_prefect_api(loaded, folder),
        SourceError,
        "api-flows.json",
        "expected flows",
        "deployments",
    )


def test_not_api_bodies(loaded, tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"detail": "Not found"}))
    expect(
        loaded, lambda: import_prefect_api(loaded, tmp_path / "x.json"), SourceError, "x.json", "known kind"
    )


def test_duplicate_id_with_different_content(loaded, folder):
    def dup(rows):
        rows.append(dict(rows[0], name="other-name"))

    edit(folder / "api-flow_runs.json", dup)
    row_id = json.loads((folder / "api-flow_runs.json").read_text())[0]["id"]
    expect(loaded, lambda: import_prefect_api(loaded, folder), SourceError, row_id, "different content")


def test_missing_flow_reference(loaded, folder):
    missing = "00000000-0000-4000-8000-000000000000"

    def dangle(rows):
        rows[3]["flow_id"] = missing

    edit(folder / "api-deployments.json", dangle)
    row_id = json.loads((folder / "api-deployments.json").read_text())[3]["id"]
    expect(loaded, lambda: import_prefect_api(loaded, folder), dk.IntegrityError, row_id, missing, "flow_id")


def test_bad_timestamp_and_state(loaded, folder):
    def bad(rows):
        rows[2]["start_time"] = "yesterday"

    edit(folder / "api-flow_runs.json", bad)
    expect(
        loaded,
        lambda: import_prefect_api(loaded, folder),
        SourceError,
        "api-flow_runs.json",
        "start_time",
        "yesterday",
    )


@pytest.mark.parametrize("name", ["nightly/etl", "50%", "a&b", "<x>"])
def test_banned_characters_in_an_imported_name(loaded, folder, name):
    def rename(rows):
        rows[1]["name"] = name

    edit(folder / "api-deployments.json", rename)
    row_id = json.loads((folder / "api-deployments.json").read_text())[1]["id"]
    expect(
        loaded,
        lambda: import_prefect_api(loaded, folder),
        SourceError,
        "api-deployments.json",
        row_id,
        name,
        "/ % & > <",
    )


def test_bad_schedule(loaded, folder):
    def bad(rows):
        rows[0]["schedule"] = {"cron": "every day", "timezone": "UTC"}

    edit(folder / "api-deployments.json", bad)
    expect(loaded, lambda: import_prefect_api(loaded, folder), SourceError, "schedule")


def test_not_a_sqlite_file(loaded, tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    expect(loaded, lambda: import_prefect_db(loaded, path), SourceError, "junk.db", "not a SQLite")


def test_sqlite_but_not_prefect(loaded, tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE flow (id)")
    expect(loaded, lambda: import_prefect_db(loaded, path), SourceError, "other.db", "not a Prefect")


def test_unknown_alembic_revision(loaded, tmp_path):
    path = altered_prefect_db(tmp_path, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    expect(
        loaded,
        lambda: import_prefect_db(loaded, path),
        SourceError,
        "ffffffffffff",
        "unknown Prefect schema revision",
    )


def test_parquet_without_manifest(loaded, tmp_path):
    expect(loaded, lambda: import_parquet(loaded, tmp_path), SourceError, "manifest.json")
