"""A sync from PostgreSQL finds deletions from id counts and hash sums, reading ids only when they differ."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from test_sync import assert_equals_fresh_import

import deploykit as dk
from deploykit.io import sync_prefect
from deploykit.io._digest import store_digest, uuid_hashes
from deploykit.io._sync import _DbReader
from deploykit.models import flows

DUMP = Path(__file__).parent / "fixtures" / "prefect-3.x" / "prefect.pg.sql.gz"


@pytest.fixture
def source(pg_cluster, request):
    """A fresh copy of the Prefect 3.x fixture database: its URL."""
    return pg_cluster.restore(DUMP, "digest_" + request.node.name.lower()[:40])


@pytest.fixture
def ids_read(monkeypatch):
    """The tables whose ids a sync reads one by one."""
    read: list[str] = []
    original = _DbReader.ids

    def ids(self, table):
        read.append(table)
        yield from original(self, table)

    monkeypatch.setattr(_DbReader, "ids", ids)
    return read


def test_uuid_hashes_equal_postgresql_uuid_hash_extended(pg_cluster, source):
    import psycopg

    given = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=2**127), uuid.UUID(int=1)]
    given += [uuid.uuid4() for _ in range(2000)]
    with psycopg.connect(source) as conn:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT uuid_hash_extended(x, 0) FROM unnest(%s::uuid[]) WITH ORDINALITY u(x, n) ORDER BY n",
                (given,),
            ).fetchall()
        ]
    high = np.array([u.int >> 64 for u in given], np.uint64)
    low = np.array([u.int & (2**64 - 1) for u in given], np.uint64)
    assert uuid_hashes(high, low).astype(np.int64).tolist() == expected


def test_a_sync_with_nothing_deleted_reads_no_id(source, tmp_path, ids_read):
    with dk.Store(tmp_path / "s.duckdb") as store:
        sync_prefect(store, source, progress=False)
        ids_read.clear()
        report = sync_prefect(store, source, progress=False)
        assert report.total == 0 and sum(report.deleted.values()) == 0
        assert ids_read == []


def test_a_deletion_is_found_and_only_that_table_s_ids_are_read(pg_cluster, source, tmp_path, ids_read):
    with dk.Store(tmp_path / "s.duckdb") as store:
        sync_prefect(store, source, progress=False)
        ids_read.clear()
        pg_cluster.psql(
            "DELETE FROM task_run WHERE id = (SELECT id FROM task_run ORDER BY id LIMIT 1)",
            source.rsplit("/", 1)[1],
        )
        report = sync_prefect(store, source, progress=False)
        assert report.deleted["task_run"] == 1
        assert ids_read == ["task_run"]
        assert_equals_fresh_import(store, source)


LEAVES = (
    "SELECT id FROM task_run t WHERE NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.parent_task_run_id = t.id) "
    "ORDER BY id"
)
"""Task runs no flow run points at: deletable on their own."""


def test_equal_counts_of_different_ids_are_compared_one_by_one(pg_cluster, source, tmp_path, ids_read):
    """The source deleted one task run and the store another: the counts agree, the hash sums
    do not, so the ids are read and the source's deletion is found."""
    dbname = source.rsplit("/", 1)[1]
    with dk.Store(tmp_path / "s.duckdb") as store:
        sync_prefect(store, source, progress=False)
        first, second = pg_cluster.psql(f"{LEAVES} LIMIT 2", dbname).split()
        pg_cluster.psql(f"DELETE FROM task_run WHERE id = '{first}'", dbname)
        with store.transaction() as cur:
            cur.execute(f"DELETE FROM task_run WHERE id = '{second}'")
            count = cur.execute("SELECT count(*) FROM task_run").fetchall()[0][0]
        assert int(pg_cluster.psql("SELECT count(*) FROM task_run", dbname)) == count
        ids_read.clear()
        report = sync_prefect(store, source, progress=False)
        assert report.deleted["task_run"] == 1 and ids_read == ["task_run"]
        assert store.sql(f"SELECT count(*) AS n FROM task_run WHERE id = '{first}'")["n"][0] == 0
        sync_prefect(store, source, full=True, progress=False)  # the store's own deletion undone
        assert_equals_fresh_import(store, source)


def test_store_digest_is_none_for_another_count(tmp_path):
    store = dk.Store()
    flows.create_flow(store, dk.Flow(name="a"))
    with store.transaction() as cur:
        assert store_digest(cur, "flow", count=2) is None
        count, total = store_digest(cur, "flow", count=1)
    flow_id = uuid.UUID(str(store.sql("SELECT id FROM flow")["id"][0]))
    expected = uuid_hashes(
        np.array([flow_id.int >> 64], np.uint64), np.array([flow_id.int & (2**64 - 1)], np.uint64)
    )
    assert (count, total) == (1, int(expected[0]))


def test_background_digests_read_the_snapshot_of_the_sync_s_connection(pg_cluster, source):
    """Rows the source deletes after the sync's snapshot was taken are still counted."""
    from deploykit.io._digest import BackgroundDigests
    from deploykit.io._postgres import connect
    from deploykit.io._prefect_db import _queries, open_prefect_db

    db = open_prefect_db(source)
    try:
        queries = _queries(db)
        before = db.conn.execute("SELECT count(*) FROM task_run").fetchone()[0]  # the snapshot
        pg_cluster.psql(
            "DELETE FROM task_run WHERE id = (SELECT id FROM task_run ORDER BY id LIMIT 1)",
            source.rsplit("/", 1)[1],
        )
        digests = BackgroundDigests(source, db.conn, queries)
        try:
            assert digests.get("task_run")[0] == before
        finally:
            digests.close()
        with connect(source) as now:
            assert now.execute("SELECT count(*) FROM task_run").fetchone()[0] == before - 1
    finally:
        db.close()


def test_without_a_second_connection_the_ids_are_compared(
    pg_cluster, source, tmp_path, ids_read, monkeypatch
):
    from deploykit.io import _postgres

    with dk.Store(tmp_path / "s.duckdb") as store:
        sync_prefect(store, source, progress=False)
        pg_cluster.psql(
            "DELETE FROM task_run WHERE id = (SELECT id FROM task_run ORDER BY id LIMIT 1)",
            source.rsplit("/", 1)[1],
        )
        real = _postgres.connect
        opened = []

        def one_connection(url):
            opened.append(url)
            if len(opened) > 1:
                raise dk.io.SourceError("too many connections for role")
            return real(url)

        monkeypatch.setattr(_postgres, "connect", one_connection)
        monkeypatch.setattr("deploykit.io._prefect_db.connect", one_connection)
        ids_read.clear()
        report = sync_prefect(store, source, progress=False)
        assert len(opened) == 2 and report.deleted["task_run"] == 1
        assert set(ids_read) == {
            "flow",
            "work_pool",
            "work_queue",
            "deployment",
            "deployment_schedule",
            "flow_run",
            "task_run",
        }
