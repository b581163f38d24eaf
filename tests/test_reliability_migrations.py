"""Versioned store files: a v1 file (written by the first released schema) is migrated on
open; newer, foreign, truncated and empty files are refused and left byte-for-byte untouched.

The fixture ``tests/fixtures/store-v1.duckdb`` was made by ``scripts/make_store_fixture.py``
with the v1 code; every test opens a copy of it.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import duckdb
import polars as pl
import pytest
from tests_support import catalog

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.store import SCHEMA_VERSION, TABLES, _migrations

FIXTURE = Path(__file__).parent / "fixtures" / "store-v1.duckdb"


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    target = tmp_path / "store.duckdb"
    shutil.copyfile(FIXTURE, target)
    return target


def _raw(path: Path) -> dict[str, pl.DataFrame]:
    """Every data table plus the meta table, read with plain DuckDB (no deploykit code)."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        frames = {t: con.sql(f"SELECT * FROM {t} ORDER BY id").pl() for t in TABLES}
        frames["deploykit_meta"] = con.sql("SELECT * FROM deploykit_meta ORDER BY key").pl()
        return frames
    finally:
        con.close()


def _fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """Content hash, mtime and the sibling files (a ``.wal`` would betray a write)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def test_fixture_is_the_v1_file():
    raw = _raw(FIXTURE)
    assert raw["deploykit_meta"].rows() == [("schema_version", "1")]
    assert {t: f.height for t, f in raw.items() if t in TABLES} == {
        "flow": 2,
        "work_pool": 2,
        "work_queue": 4,
        "deployment": 4,
        "flow_run": 9,
        "task_run": 2,
    }
    assert FIXTURE.stat().st_size < 2_000_000


def test_v1_store_is_migrated_with_its_data_intact(v1_copy):
    before = _raw(v1_copy)
    with dk.Store(v1_copy) as store:
        assert store.sql("SELECT value FROM deploykit_meta")["value"].to_list() == [str(SCHEMA_VERSION)]
        for table in TABLES:
            # schema 4 adds columns and moves deployment.schedule / is_schedule_active
            # (checked below): every column that stays keeps its values
            kept = [c for c in before[table].columns if c not in ("schedule", "is_schedule_active")]
            after = store.sql(f"SELECT {', '.join(kept)} FROM {table} ORDER BY id")
            assert after.equals(before[table].select(kept)), table
        moved = store.sql(
            "SELECT CAST(deployment_id AS VARCHAR) AS id, schedule, active, parameters "
            "FROM deployment_schedule ORDER BY deployment_id"
        )
        old = before["deployment"].filter(pl.col("schedule").is_not_null())
        assert moved["id"].to_list() == old["id"].cast(pl.String).to_list()
        assert moved["schedule"].to_list() == old["schedule"].to_list()
        assert moved["active"].all() and set(moved["parameters"]) == {"{}"}
        paused = store.sql("SELECT paused FROM deployment ORDER BY id")["paused"]
        assert paused.to_list() == (~before["deployment"]["is_schedule_active"]).to_list()
        history = store.sql("SELECT event, schema_version, deploykit_version FROM deploykit_history")
        assert history.rows() == [("migrated from schema 1", SCHEMA_VERSION, _migrations.deploykit_version())]
        assert store.check_integrity().is_empty()
        # the migrated store is fully usable: models read back, writes and schedules work
        nightly = D.read_deployment_by_name(store, "nightly", "etl")
        assert nightly.schedule.cron == "30 2 * * *"
        assert nightly.parameters == {"n": 31, "label": "nightly ü ✓"}
        weekly = D.read_deployment_by_name(store, "weekly", "etl")
        start = datetime(2023, 1, 1, tzinfo=UTC)
        assert len(D.schedule_runs(store, weekly.id, start_time=start)) == 3
        queues = D.check_work_queues_for_deployment(store, UUID(int=33))["name"].to_list()
        assert "gpu" in queues and "prod-q" not in queues
    # reopening is a no-op: no second migration
    with dk.Store(v1_copy, read_only=True) as store:
        assert store.sql("SELECT count(*) AS n FROM deploykit_history")["n"][0] == 1


def test_migrated_store_has_the_schema_of_a_new_one(v1_copy, tmp_path):
    dk.Store(v1_copy).close()
    dk.Store(tmp_path / "new.duckdb").close()
    migrated, new = catalog(v1_copy), catalog(tmp_path / "new.duckdb")
    assert ("deployment", "deployment_name") in {row[:2] for row in new["indexes"]}
    assert migrated == new


def test_failed_migration_leaves_the_file_at_v1(v1_copy, monkeypatch):
    broken = _migrations.MIGRATIONS[1] + "; SELECT error('disk full, say')"
    monkeypatch.setitem(_migrations.MIGRATIONS, 1, broken)
    before = _raw(v1_copy)
    with pytest.raises(duckdb.Error, match="disk full"):
        dk.Store(v1_copy)
    after = _raw(v1_copy)
    for name, frame in before.items():
        assert after[name].equals(frame), name
    con = duckdb.connect(str(v1_copy), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert "deploykit_history" not in tables


def test_read_only_open_of_an_old_store_asks_for_a_writable_open(v1_copy):
    before = _fingerprint(v1_copy)
    with pytest.raises(dk.StoreError, match=r"schema 1.*open it writable once"):
        dk.Store(v1_copy, read_only=True)
    assert _fingerprint(v1_copy) == before


def test_new_store_records_its_creation(tmp_path):
    with dk.Store(tmp_path / "new.duckdb") as store:
        assert store.sql("SELECT event, schema_version FROM deploykit_history").rows() == [
            ("created", SCHEMA_VERSION)
        ]


def _newer(path: Path) -> None:
    shutil.copyfile(FIXTURE, path)
    con = duckdb.connect(str(path))
    con.execute(f"UPDATE deploykit_meta SET value = '{SCHEMA_VERSION + 1}'")
    con.close()


def _foreign(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE deployment (id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO deployment VALUES (1, 'not ours')")
    con.close()


def _empty_duckdb(path: Path) -> None:
    duckdb.connect(str(path)).close()


def _bad_version(path: Path) -> None:
    shutil.copyfile(FIXTURE, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE deploykit_meta SET value = 'one'")
    con.close()


def _truncated(path: Path) -> None:
    data = FIXTURE.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("id,name\n1,etl\n" * 200)


REFUSED = {
    _newer: "newer deploykit",
    _foreign: "not a deploykit store",
    _empty_duckdb: "not a deploykit store",
    _bad_version: "not a valid deploykit store",
    _truncated: "store.duckdb",
    _zero_bytes: "store.duckdb",
    _text: "store.duckdb",
}


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read_only"])
@pytest.mark.parametrize("make", list(REFUSED), ids=lambda f: f.__name__.strip("_"))
def test_unusable_files_are_refused_and_untouched(tmp_path, make, read_only):
    path = tmp_path / "store.duckdb"
    make(path)
    before = _fingerprint(path)
    with pytest.raises(dk.StoreError, match=REFUSED[make]):
        dk.Store(path, read_only=read_only)
    assert _fingerprint(path) == before
