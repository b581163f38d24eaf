"""Incremental sync (issue 12): only what changed is read and written, deletions follow the source."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

import polars as pl
import pytest

import deploykit as dk
from deploykit.io import SourceError, import_prefect_db, sync_prefect
from deploykit.io._sync import AS_OF_READ
from deploykit.store import STORED_TABLES

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = ("prefect-2.10", "prefect-2.20", "prefect-3.x")
LATER = "2031-01-01 00:00:00.000000"


def tables(store: dk.Store) -> dict[str, pl.DataFrame]:
    """Every stored table, sorted, without the estimates an import computes as of its read."""
    return {
        t: store.sql(f"SELECT * FROM {t} ORDER BY id").drop(AS_OF_READ, strict=False) for t in STORED_TABLES
    }


def _copy(release: str, tmp_path: Path) -> Path:
    db = tmp_path / "prefect.db"
    shutil.copy(FIXTURES / release / "prefect.db", db)
    return db


def _first_sync(store: dk.Store, db: Path) -> dk.io.ImportReport:
    return sync_prefect(store, db, progress=False)


def _counts(db: Path) -> dict[str, int]:
    """Rows per store table in a Prefect SQLite database (before 2.18: one schedule per deployment)."""
    with sqlite3.connect(db) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("flow", "work_pool", "work_queue", "deployment", "flow_run", "task_run")
        }
        has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'deployment_schedule'").fetchone()
        query = (
            "SELECT count(*) FROM deployment_schedule"
            if has_table
            else "SELECT count(*) FROM deployment WHERE schedule IS NOT NULL"
        )
        counts["deployment_schedule"] = conn.execute(query).fetchone()[0]
    return counts


def assert_equals_fresh_import(store: dk.Store, source: object) -> dict[str, pl.DataFrame]:
    """Every table of ``store`` equals a fresh ``import_prefect_db`` of ``source``; returns
    ``store``'s tables."""
    with dk.Store() as fresh:
        import_prefect_db(fresh, source, progress=False)
        want = tables(fresh)
    got = tables(store)
    for table, frame in want.items():
        assert got[table].equals(frame), table
    return got


@pytest.mark.parametrize("release", RELEASES)
def test_first_sync_is_a_full_import_and_the_second_changes_nothing(release, tmp_path):
    db = _copy(release, tmp_path)
    with dk.Store(tmp_path / "s.duckdb") as store:
        first = _first_sync(store, db)
        counts = _counts(db)
        for table, n in counts.items():
            assert first.counts()[table] == {"inserted": n, "updated": 0, "unchanged": 0, "deleted": 0}
        before = assert_equals_fresh_import(store, db)

        second = sync_prefect(store, db, progress=False)
        assert second.total == 0
        for table, n in counts.items():
            assert second.counts()[table] == {"inserted": 0, "updated": 0, "unchanged": n, "deleted": 0}
        after = tables(store)
        for table, frame in before.items():
            assert after[table].equals(frame), table

        # read everything again: identical rows are reported unchanged, not updated
        third = sync_prefect(store, db, full=True, progress=False)
        assert third.total == 0
        assert third.unchanged == second.unchanged


def _edit_source(db: Path) -> dict[str, dict[str, int]]:
    """Update, delete and insert rows as a Prefect server would; the expected report."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    leaf_runs = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM flow_run r "
            "WHERE NOT EXISTS (SELECT 1 FROM task_run t WHERE t.flow_run_id = r.id) "
            "AND NOT EXISTS (SELECT 1 FROM flow_run c JOIN task_run t ON t.id = c.parent_task_run_id "
            "WHERE t.flow_run_id = r.id) ORDER BY id"
        )
    ]
    changed, deleted = leaf_runs[:3], leaf_runs[3:5]
    for run_id in changed:
        conn.execute(
            "UPDATE flow_run SET updated = ?, name = name || '-renamed', state_name = 'Edited' WHERE id = ?",
            (LATER, run_id),
        )
    conn.executemany("DELETE FROM flow_run WHERE id = ?", [(r,) for r in deleted])
    # a task run nobody points at as a parent
    task_id = conn.execute(
        "SELECT id FROM task_run t "
        "WHERE NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.parent_task_run_id = t.id) "
        "ORDER BY id LIMIT 1"
    ).fetchone()[0]
    conn.execute("DELETE FROM task_run WHERE id = ?", (task_id,))
    template = dict(conn.execute("SELECT * FROM flow_run WHERE id = ?", (leaf_runs[5],)).fetchone())
    for i in range(2):
        row = {
            **template,
            "id": str(uuid.uuid4()),
            "name": f"inserted-by-test-{i}",
            "idempotency_key": None,
            "created": LATER,
            "updated": LATER,
        }
        conn.execute(
            f"INSERT INTO flow_run ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
    conn.commit()
    conn.close()
    counts = _counts(db)
    expected = {t: {"inserted": 0, "updated": 0, "unchanged": n, "deleted": 0} for t, n in counts.items()}
    expected["flow_run"] = {"inserted": 2, "updated": 3, "unchanged": counts["flow_run"] - 5, "deleted": 2}
    expected["task_run"]["deleted"] = 1
    return expected


@pytest.mark.parametrize("release", RELEASES)
def test_sync_reports_exact_changes_and_equals_a_fresh_import(release, tmp_path):
    db = _copy(release, tmp_path)
    with dk.Store(tmp_path / "s.duckdb") as store:
        _first_sync(store, db)
        expected = _edit_source(db)
        report = sync_prefect(store, db, progress=False)
        assert {t: report.counts()[t] for t in expected} == expected
        assert_equals_fresh_import(store, db)
        assert store.check_integrity().height == 0
        again = sync_prefect(store, db, progress=False)
        assert again.total == 0


def test_a_deleted_work_queue_clears_the_references_as_prefect_did(tmp_path):
    db = _copy("prefect-2.10", tmp_path)
    with dk.Store(tmp_path / "s.duckdb") as store:
        _first_sync(store, db)
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA foreign_keys = ON")
        queue_id = conn.execute(
            "SELECT q.id FROM work_queue q "
            "WHERE NOT EXISTS (SELECT 1 FROM work_pool p WHERE p.default_queue_id = q.id) "
            "AND EXISTS (SELECT 1 FROM flow_run r WHERE r.work_queue_id = q.id) ORDER BY q.id LIMIT 1"
        ).fetchone()[0]
        conn.execute("DELETE FROM work_queue WHERE id = ?", (queue_id,))
        conn.commit()
        conn.close()
        report = sync_prefect(store, db, progress=False)
        assert report.deleted["work_queue"] == 1
        assert_equals_fresh_import(store, db)


def test_a_failed_sync_leaves_the_store_as_before(tmp_path):
    db = _copy("prefect-2.10", tmp_path)
    with dk.Store(tmp_path / "s.duckdb") as store:
        _first_sync(store, db)
        before = tables(store)
        meta = store.sql("SELECT * FROM deploykit_meta ORDER BY key")
        conn = sqlite3.connect(db)
        run_id = conn.execute("SELECT id FROM flow_run ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM task_run WHERE id = (SELECT min(id) FROM task_run)")
        conn.execute(
            "UPDATE flow_run SET updated = ?, state_type = 'EXPLODED' WHERE id = ?",
            (LATER, run_id),
        )
        conn.commit()
        conn.close()
        with pytest.raises(SourceError, match="unknown state type EXPLODED"):
            sync_prefect(store, db, progress=False)
        after = tables(store)
        for table, frame in before.items():
            assert after[table].equals(frame), table
        assert store.sql("SELECT * FROM deploykit_meta ORDER BY key").equals(meta)


def test_watermarks_are_kept_per_source_and_table(tmp_path):
    db = _copy("prefect-2.10", tmp_path)
    with dk.Store(tmp_path / "s.duckdb") as store:
        _first_sync(store, db)
        keys = store.sql("SELECT key, value FROM deploykit_meta WHERE key LIKE 'sync:%' ORDER BY key")
        assert keys.height == len(STORED_TABLES)
        assert all(k.startswith(f"sync:{db.resolve()}:") for k in keys["key"])
        with sqlite3.connect(db) as conn:
            newest = conn.execute("SELECT max(updated) FROM flow_run").fetchone()[0]
        assert dict(keys.rows())[f"sync:{db.resolve()}:flow_run"] == newest


def test_import_report_of_a_sync_prints_four_counts():
    report = dk.io.ImportReport(source="x.db", synced=True)
    report.add("flow", inserted=1, updated=2, unchanged=3, deleted=4)
    assert report.total == 7
    assert "3 unchanged" in str(report) and "4 deleted" in str(report)


def test_cli_sync_prints_the_report_and_json(tmp_path, capsys):
    import json

    from deploykit.cli import main

    db = _copy("prefect-2.10", tmp_path)
    store = str(tmp_path / "cli.duckdb")
    assert main(["sync", str(db), "--store", store]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"synced {db.resolve()}") and "176 inserted" in out
    assert main(["sync", str(db), "--store", store, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["tables"]
    assert counts["flow_run"] == {"inserted": 0, "updated": 0, "unchanged": 176, "deleted": 0}
    assert main(["sync", str(tmp_path / "missing.db"), "--store", store]) == 1
    assert "no such database file" in capsys.readouterr().err


@pytest.mark.parametrize("release", ["prefect-2.20", "prefect-3.x"])
def test_sync_from_postgresql(pg_cluster, release, tmp_path):
    dbname = "sync_" + release.replace("-", "_").replace(".", "_")
    url = pg_cluster.restore(FIXTURES / release / "prefect.pg.sql.gz", dbname)
    with dk.Store(tmp_path / "s.duckdb") as store:
        first = sync_prefect(store, url, progress=False)
        keys = store.sql("SELECT key FROM deploykit_meta WHERE key LIKE 'sync:%'")["key"].to_list()
        assert all(":deploykit@" not in text for text in [first.source, str(first), *keys])  # no password
        runs = first.inserted["flow_run"]
        assert runs > 5 and sync_prefect(store, url, progress=False).total == 0
        pg_cluster.psql(
            "UPDATE flow_run SET updated = now(), name = name || '-renamed' WHERE id IN "
            "(SELECT id FROM flow_run r "
            "WHERE NOT EXISTS (SELECT 1 FROM task_run t WHERE t.flow_run_id = r.id) ORDER BY id LIMIT 3);"
            "DELETE FROM flow_run WHERE id IN (SELECT id FROM flow_run r WHERE NOT EXISTS "
            "(SELECT 1 FROM task_run t WHERE t.flow_run_id = r.id) "
            "AND NOT EXISTS (SELECT 1 FROM flow_run c JOIN task_run t ON t.id = c.parent_task_run_id "
            "WHERE t.flow_run_id = r.id) ORDER BY id DESC LIMIT 2);"
            "CREATE TEMP TABLE copy AS SELECT * FROM flow_run ORDER BY id LIMIT 1;"
            "UPDATE copy SET id = gen_random_uuid(), name = 'inserted-by-test', idempotency_key = NULL, "
            "created = now(), updated = now();"
            "INSERT INTO flow_run SELECT * FROM copy;",
            dbname,
        )
        report = sync_prefect(store, url, progress=False)
        assert report.counts()["flow_run"] == {
            "inserted": 1,
            "updated": 3,
            "unchanged": runs - 2 - 3,
            "deleted": 2,
        }
        assert sum(report.counts()["task_run"][k] for k in ("inserted", "updated", "deleted")) == 0
        assert_equals_fresh_import(store, url)
        assert sync_prefect(store, url, progress=False).total == 0


def _serve(folder: Path):
    """Prefect's ``/filter`` endpoints (offset/limit) over the ``api-*.json`` bodies in ``folder``."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            parts = self.path.strip("/").split("/")
            name = (
                f"api-work_pool_queues-{parts[2]}.json"
                if parts[3:4] == ["queues"]
                else f"api-{parts[1]}.json"
            )
            rows = json.loads((folder / name).read_text())
            data = json.dumps(rows[body["offset"] : body["offset"] + body["limit"]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/api"


def test_sync_from_the_rest_api_reads_all_and_writes_only_changes(tmp_path):
    import json

    folder = tmp_path / "api"
    shutil.copytree(
        FIXTURES / "prefect-3.x", folder, ignore=shutil.ignore_patterns("postgres", "*.db", "*.gz")
    )
    httpd, url = _serve(folder)
    try:
        with dk.Store(tmp_path / "s.duckdb") as store:
            first = sync_prefect(store, url, progress=False)
            runs = json.loads((folder / "api-flow_runs.json").read_text())
            assert first.counts()["flow_run"]["inserted"] == len(runs)
            second = sync_prefect(store, url, progress=False)
            assert second.total == 0 and second.unchanged["flow_run"] == len(runs)
            runs[0]["name"] += "-renamed"
            runs[0]["updated"] = "2031-01-01T00:00:00Z"
            gone = next(
                r for r in runs[1:] if r["parent_task_run_id"] is None and r["state_type"] == "SCHEDULED"
            )
            runs.remove(gone)
            (folder / "api-flow_runs.json").write_text(json.dumps(runs))
            report = sync_prefect(store, url, progress=False)
            assert report.counts()["flow_run"] == {
                "inserted": 0,
                "updated": 1,
                "unchanged": len(runs) - 1,
                "deleted": 1,
            }
            assert store.sql(f"SELECT count(*) AS n FROM flow_run WHERE id = '{gone['id']}'")["n"][0] == 0
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_row_stamped_in_the_future_does_not_hide_later_changes(tmp_path):
    from datetime import UTC, datetime

    db = _copy("prefect-2.10", tmp_path)
    with sqlite3.connect(db) as conn:
        first, second = (r[0] for r in conn.execute("SELECT id FROM flow_run ORDER BY id LIMIT 2"))
        conn.execute("UPDATE flow_run SET updated = '2099-01-01 00:00:00.000000' WHERE id = ?", (first,))
    with dk.Store(tmp_path / "s.duckdb") as store:
        _first_sync(store, db)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE flow_run SET updated = ?, name = 'changed-now' WHERE id = ?", (now, second))
        report = sync_prefect(store, db, progress=False)
        assert report.updated["flow_run"] == 1
        assert store.sql(f"SELECT name FROM flow_run WHERE id = '{second}'")["name"][0] == "changed-now"
