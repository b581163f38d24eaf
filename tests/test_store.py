"""The store: files, transactions, ad hoc queries, schema version and foreign files."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pytest

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flows
from deploykit.store import SCHEMA_VERSION


def test_in_memory_by_default():
    with dk.Store() as store:
        assert store.path is None
        assert store.sql("SELECT count(*) AS n FROM flow")["n"][0] == 0


def test_file_store_persists(tmp_path):
    path = tmp_path / "ops.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="f"))
        D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    with dk.Store(path) as store:
        assert D.read_deployment_by_name(store, "d", "f") is not None
    with dk.Store(path, read_only=True) as store:
        assert D.count_deployments(store) == 1


def test_closed_store_cannot_be_used(tmp_path):
    store = dk.Store(tmp_path / "x.duckdb")
    store.close()
    with pytest.raises(duckdb.Error):
        store.sql("SELECT 1")


def test_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError), store.transaction() as cur:
        cur.execute("INSERT INTO deploykit_meta VALUES ('k', 'v')")
        raise RuntimeError("boom")
    assert store.sql("SELECT count(*) AS n FROM deploykit_meta WHERE key = 'k'")["n"][0] == 0


def test_failed_operation_leaves_no_trace(store, flow):
    from conftest import assert_unchanged, snapshot

    D.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    before = snapshot(store)
    # the queue would be created first, then the duplicate id fails the insert
    taken = D.read_deployment_by_name(store, "d", "my-flow").id
    with pytest.raises(dk.IntegrityError, match="already used"):
        D.create_deployment(
            store, dk.Deployment(id=taken, name="e", flow_id=flow.id, work_queue_name="new-q")
        )
    assert_unchanged(before, store)


def test_sql_binds_named_parameters(store, flow):
    got = store.sql("SELECT name FROM flow WHERE name = $n", n="my-flow")
    assert got["name"].to_list() == ["my-flow"]
    assert store.sql("SELECT name FROM flow WHERE name = $n", n="x' OR '1'='1").height == 0


def test_table_is_a_lazy_frame(store, flow):
    lf = store.table("flow")
    assert isinstance(lf, pl.LazyFrame)
    assert lf.filter(pl.col("name") == "my-flow").collect().height == 1
    with pytest.raises(ValueError, match="unknown table"):
        store.table("flow; DROP TABLE flow")


def test_schema_version_is_recorded(store):
    assert store.sql("SELECT value FROM deploykit_meta WHERE key = 'schema_version'")["value"][0] == str(
        SCHEMA_VERSION
    )


def test_newer_store_is_refused_and_untouched(tmp_path):
    path = tmp_path / "new.duckdb"
    with dk.Store(path) as store, store.transaction() as cur:
        cur.execute("UPDATE deploykit_meta SET value = '999' WHERE key = 'schema_version'")
    before = path.read_bytes()
    with pytest.raises(dk.StoreError, match="newer deploykit"):
        dk.Store(path)
    assert path.read_bytes() == before


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(dk.StoreError, match="not a deploykit store"):
        dk.Store(path)


@pytest.mark.parametrize("content", [b"", b"this is not a database at all" * 100])
def test_corrupt_file_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "bad.duckdb"
    path.write_bytes(content)
    with pytest.raises(dk.StoreError, match=str(path.name)):
        dk.Store(path)
    assert path.read_bytes() == content


def test_second_writer_process_gets_a_clear_error(tmp_path):
    path = tmp_path / "locked.duckdb"
    dk.Store(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time, deploykit as dk
            s = dk.Store({str(path)!r})
            tx = s.transaction()
            tx.__enter__()  # mid-operation: an idle Store holds no lock
            print("ready", flush=True)
            sys.stdin.readline()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(dk.StoreError, match="locked by another process"):
            dk.Store(path)
    finally:
        holder.communicate("\n", timeout=30)


def test_missing_read_only_file(tmp_path):
    with pytest.raises(dk.StoreError, match="does not exist"):
        dk.Store(tmp_path / "nope.duckdb", read_only=True)


def test_check_integrity_reports_dangling_rows(store, flow):
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO flow_run (id, created, updated, name, flow_id, parameters, tags, auto_scheduled) "
            "VALUES (uuid(), now(), now(), 'orphan', uuid(), '{}', [], false)"
        )
    problems = store.check_integrity()
    assert problems.select("table", "column").rows() == [("flow_run", "flow_id")]
