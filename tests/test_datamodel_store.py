"""Schema 4 (SPEC.md section 6): a schema-3 file is migrated in one transaction, schedules
move to ``deployment_schedule`` and the result has exactly the catalog of a new store."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from tests_support import catalog

import deploykit as dk
from deploykit.store import SCHEMA_VERSION, _migrations

FIXTURE = Path(__file__).parent / "fixtures" / "store-v1.duckdb"


@pytest.fixture
def v3_file(tmp_path: Path) -> Path:
    """The v1 fixture taken to schema 3 with the schema-3 migrations, one deployment paused."""
    path = tmp_path / "v3.duckdb"
    shutil.copyfile(FIXTURE, path)
    con = duckdb.connect(str(path))
    con.execute(_migrations.MIGRATIONS[1])
    con.execute(_migrations.MIGRATIONS[2])
    con.execute("UPDATE deploykit_meta SET value = '3'")
    con.execute("UPDATE deployment SET is_schedule_active = false WHERE name = 'weekly'")
    con.close()
    return path


def test_v3_file_is_migrated_to_the_catalog_of_a_new_store(v3_file, tmp_path):
    con = duckdb.connect(str(v3_file), read_only=True)
    before = con.execute(
        "SELECT CAST(id AS VARCHAR), schedule, is_schedule_active FROM deployment ORDER BY id"
    ).fetchall()
    runs = con.execute("SELECT count(*) FROM flow_run").fetchall()
    con.close()
    with dk.Store(v3_file) as store:
        assert store.sql("SELECT value FROM deploykit_meta")["value"].to_list() == [str(SCHEMA_VERSION)]
        after = store.sql(
            "SELECT CAST(d.id AS VARCHAR) AS id, s.schedule, NOT d.paused AS active, s.active AS s_active "
            "FROM deployment d LEFT JOIN deployment_schedule s ON s.deployment_id = d.id ORDER BY d.id"
        ).rows()
        assert [row[:3] for row in after] == before
        assert all(row[3] for row in after if row[1] is not None)
        assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == runs[0][0]
        weekly = dk.models.deployments.read_deployment_by_name(store, "weekly", "etl")
        assert weekly.paused and not weekly.is_schedule_active and weekly.schedule is not None
        assert store.check_integrity().is_empty()
    dk.Store(tmp_path / "new.duckdb").close()
    assert catalog(v3_file) == catalog(tmp_path / "new.duckdb")


def test_failed_schema_4_step_leaves_the_v3_file_untouched(v3_file, monkeypatch):
    broken = _migrations.MIGRATIONS[3] + "; SELECT error('disk full, say')"
    monkeypatch.setitem(_migrations.MIGRATIONS, 3, broken)
    with pytest.raises(duckdb.Error, match="disk full"):
        dk.Store(v3_file)
    con = duckdb.connect(str(v3_file), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'deployment'"
        ).fetchall()
    }
    version = con.execute("SELECT value FROM deploykit_meta").fetchall()
    con.close()
    assert "deployment_schedule" not in tables and "schedule" in columns and version == [("3",)]


def test_deployment_schedule_is_a_store_table(tmp_path):
    with dk.Store() as store:
        assert store.table("deployment_schedule").collect().columns == [
            "id",
            "created",
            "updated",
            "deployment_id",
            "schedule",
            "active",
            "max_scheduled_runs",
            "parameters",
            "slug",
            "extra",
        ]
