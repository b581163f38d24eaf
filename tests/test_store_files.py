"""Store files under misuse and damage (issue 15 items 4, 7, 8) and shared between processes
(issue 13: a notebook and the CLI on one store file at the same time)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import deploykit as dk
import deploykit.io
from deploykit.models import deployments as D
from deploykit.models import flows


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sizable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of a few MB (many blocks), closed."""
    path = tmp_path_factory.mktemp("sizable") / "ops.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        n = 20_000
        D.create_deployments(
            store,
            pl.DataFrame(
                {
                    "name": [f"d{i}" for i in range(n)],
                    "flow_id": [str(flow.id)] * n,
                    "tags": [["prod", f"t{i % 50}"] for i in range(n)],
                    "description": [f"deployment number {i} " * 3 for i in range(n)],
                }
            ),
        )
    return path


# --- item 4: a truncated file is refused at open and never written ----------------------------


@pytest.mark.parametrize("fraction", [0.5, 0.75, 0.9])
@pytest.mark.parametrize("read_only", [False, True])
def test_truncated_store_is_refused_untouched(sizable, tmp_path, fraction, read_only):
    path = tmp_path / "cut.duckdb"
    data = sizable.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    before = _digest(path)
    with pytest.raises(dk.StoreError, match=r"truncated.*untouched.*export parquet.*EXPORT DATABASE"):
        dk.Store(path, read_only=read_only)
    assert _digest(path) == before
    assert not Path(f"{path}.wal").exists()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_truncated_while_a_store_sits_idle_is_refused_untouched(sizable, tmp_path, read_only):
    """A ``Store`` holds nothing between operations, so the check runs at every attach:
    a file cut (or replaced by a cut copy) under an open ``Store`` is neither read with a
    raw DuckDB error nor rewritten by the next write."""
    path = tmp_path / "idle.duckdb"
    data = sizable.read_bytes()
    path.write_bytes(data)
    with dk.Store(path, read_only=read_only) as store:
        assert D.count_deployments(store) == 20_000
        path.write_bytes(data[: len(data) // 2])
        before = _digest(path)
        operations = [lambda: D.read_deployments(store), lambda: D.count_deployments(store)]
        if not read_only:
            operations.append(lambda: flows.create_flow(store, dk.Flow(name="new")))
        for operation in operations:
            with pytest.raises(dk.StoreError, match=r"truncated.*untouched.*export parquet"):
                operation()
        assert _digest(path) == before
        path.write_bytes(data)  # the file restored: the same Store works again
        assert D.count_deployments(store) == 20_000


def test_sound_store_passes_the_check(sizable, tmp_path):
    path = tmp_path / "copy.duckdb"
    path.write_bytes(sizable.read_bytes())
    with dk.Store(path, read_only=True) as store:
        assert D.count_deployments(store) == 20_000


@pytest.fixture
def corrupt_block(tmp_path) -> tuple[Path, dk.Flow, dk.Deployment]:
    """A store file whose block holding one deployment's description fails its checksum."""
    path = tmp_path / "bitrot.duckdb"
    marker = secrets.token_hex(2000)  # random text: stored as is, so it can be found
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        deployment = D.create_deployment(
            store, dk.Deployment(name="d", flow_id=flow.id, description=marker, schedule={"interval": 3600})
        )
    data = bytearray(path.read_bytes())
    at = data.find(marker.encode())
    assert at > 0
    data[at + 100 : at + 164] = bytes(64)
    path.write_bytes(bytes(data))
    return path, flow, deployment


def test_a_block_failing_its_checksum_is_a_store_error_on_every_path(corrupt_block, tmp_path):
    """Issue 15 item 6: a checksum error surfaces as a StoreError saying how to recover,
    on reads, writes, fleet scheduling and imports alike (was DuckDB's raw Error)."""
    path, flow, deployment = corrupt_block
    before = _digest(path)
    # a body editing the damaged deployment: the import must read its stored row
    body = json.loads(
        (Path(__file__).parent / "fixtures" / "prefect-2.10" / "api-deployments.json").read_text()
    )[0]
    body |= {"id": str(deployment.id), "flow_id": str(flow.id), "name": "d", "description": "edited"}
    body |= {"work_pool_name": None, "work_queue_name": None}
    (tmp_path / "edit").mkdir()
    (tmp_path / "edit" / "api-deployments.json").write_text(json.dumps([body]))
    with dk.Store(path) as store:
        calls = {
            "read_deployments": lambda: D.read_deployments(store),
            "sql": lambda: store.sql("SELECT * FROM deployment"),
            "table": lambda: store.table("deployment").collect(),
            "create_deployment": lambda: D.create_deployment(
                store, dk.Deployment(name="d", flow_id=flow.id, description="x")
            ),
            "schedule_all": lambda: D.schedule_all(store, start_time=datetime(2024, 1, 1, tzinfo=UTC)),
            "import_prefect_api": lambda: deploykit.io.import_prefect_api(store, tmp_path / "edit"),
        }
        for name, call in calls.items():
            damaged = r"is damaged \(Corrupt database file.*export parquet"
            with pytest.raises(dk.StoreError, match=damaged) as info:
                call()
            assert "aborted" not in str(info.value), name
    assert _digest(path) == before


# --- item 8: hangs and misuse ----------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("read_only", [False, True])
def test_a_fifo_is_refused_without_blocking(tmp_path, read_only):
    fifo = tmp_path / "pipe.duckdb"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def open_it() -> None:
        try:
            dk.Store(fifo, read_only=read_only)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=open_it, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the stuck open so the test process can exit
        with open(fifo, "wb"):
            pass
        pytest.fail("Store(fifo) blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], dk.StoreError)
    assert "not a regular file" in str(outcome[0])


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(dk.StoreError, match="directory"):
        dk.Store(tmp_path)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, -0.5, "soon"])
def test_bad_timeouts_are_refused(tmp_path, timeout):
    with pytest.raises(ValueError, match="timeout must be"):
        dk.Store(tmp_path / "t.duckdb", timeout=timeout)
    assert not (tmp_path / "t.duckdb").exists()


def test_two_stores_on_one_file_share_a_connection_and_upsert_concurrently(tmp_path):
    path = tmp_path / "two.duckdb"
    first, second = dk.Store(path), dk.Store(path)
    try:
        assert first._handle is second._handle
        flow = flows.create_flow(first, dk.Flow(name="etl"))
        names = [f"d{i}" for i in range(30)]
        errors: list[BaseException] = []

        def upsert(store: dk.Store, tag: str) -> None:
            try:
                for _ in range(4):
                    D.create_deployments(
                        store,
                        pl.DataFrame({"name": names, "flow_id": [str(flow.id)] * 30, "tags": [[tag]] * 30}),
                    )
                    for name in names[:5]:
                        D.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id, tags=[tag]))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=upsert, args=(store, f"w{i}"))
            for i, store in enumerate([first, second, first, second])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert D.count_deployments(second) == 30
    finally:
        first.close()
        second.close()


# --- item 7: read-only stores, full disks, and the cause behind a failed cleanup --------------


def test_writes_to_a_read_only_store_raise_store_error(tmp_path):
    path = tmp_path / "ro.duckdb"
    dk.Store(path).close()
    before = _digest(path)
    with dk.Store(path, read_only=True) as store:
        with pytest.raises(dk.StoreError, match=r"open read-only.*without read_only=True"):
            flows.create_flow(store, dk.Flow(name="etl"))
        with pytest.raises(dk.StoreError, match="open read-only"):
            store.sql("INSERT INTO deploykit_meta VALUES ('k', 'v')")
        assert flows.read_flow_by_name(store, "etl") is None
    assert _digest(path) == before


def test_a_full_disk_raises_store_error_and_keeps_the_data(tmp_path):
    path = tmp_path / "full.duckdb"
    with dk.Store(path) as store:
        flows.create_flow(store, dk.Flow(name="kept"))
    size = path.stat().st_size
    script = textwrap.dedent(f"""
        import resource, signal
        import polars as pl
        import deploykit as dk
        from deploykit.models import deployments as D, flows
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill: a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size} + 300_000, {size} + 300_000))
        store = dk.Store({str(path)!r})
        flow = flows.read_flow_by_name(store, "kept")
        n = 200_000
        try:
            D.create_deployments(store, pl.DataFrame({{
                "name": [f"d{{i}}" for i in range(n)], "flow_id": [str(flow.id)] * n,
                "description": ["x" * 200] * n}}))
        except dk.StoreError as exc:
            print("StoreError:", exc)
        except BaseException as exc:
            print("RAW", type(exc).__module__, type(exc).__name__, exc)
        else:
            print("no error")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.stdout.startswith("StoreError: could not write store"), run.stdout + run.stderr[-2000:]
    assert "free disk space" in run.stdout
    with dk.Store(path) as store:
        assert flows.read_flow_by_name(store, "kept") is not None
        assert D.count_deployments(store) == 0


def test_a_failing_rollback_does_not_hide_the_error(tmp_path):
    with dk.Store(tmp_path / "r.duckdb") as store:
        with pytest.raises(RuntimeError, match="the real cause") as caught, store.transaction() as cur:
            cur.execute("INSERT INTO deploykit_meta VALUES ('k', 'v')")
            cur.close()  # the rollback will fail
            raise RuntimeError("the real cause")
        assert any("rolling back afterwards also failed" in note for note in caught.value.__notes__)
        assert store.sql("SELECT count(*) AS n FROM deploykit_meta WHERE key = 'k'")["n"][0] == 0


# --- item 2 of issue 11: one home for exceptions, shown as deploykit.X -------------------------


@pytest.mark.parametrize(
    "cls",
    [
        dk.DeploykitError,
        dk.StoreError,
        dk.IntegrityError,
        dk.ObjectNotFoundError,
        dk.SourceError,
        dk.FetchError,
    ],
)
def test_exceptions_report_module_deploykit_and_pickle(cls):
    assert cls.__module__ == "deploykit"
    assert repr(cls("x")) == f"{cls.__name__}('x')"
    again = pickle.loads(pickle.dumps(cls("boom")))
    assert type(again) is cls and str(again) == "boom"


def test_io_keeps_exporting_its_errors():
    assert deploykit.io.SourceError is dk.SourceError
    assert deploykit.io.FetchError is dk.FetchError


# --- issue 13: a notebook and the CLI on one file ------------------------------------------------

_HOLDER = """
import sys, deploykit as dk
from deploykit.models import flows
store = dk.Store(sys.argv[1])
flows.create_flow(store, dk.Flow(name="from-the-notebook"))
print("idle", flush=True)
sys.stdin.readline()              # a notebook between cells: Store open, no operation
tx = store.transaction()
tx.__enter__()                    # now mid-write
print("writing", flush=True)
sys.stdin.readline()
tx.__exit__(None, None, None)
print("done", flush=True)
sys.stdin.readline()
"""


def test_an_idle_store_in_one_process_lets_another_write_and_read(tmp_path):
    path = tmp_path / "shared.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "idle"
        # "the CLI": opens, writes, reads, while the notebook's Store stays open
        with dk.Store(path) as cli:
            flows.create_flow(cli, dk.Flow(name="from-the-cli"))
            assert flows.read_flow_by_name(cli, "from-the-notebook") is not None
        with dk.Store(path, read_only=True) as reader:
            assert reader.table("flow").select("name").collect()["name"].sort().to_list() == [
                "from-the-cli",
                "from-the-notebook",
            ]

        # mid-write in the holder: no timeout fails at once, a timeout waits and succeeds
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "writing"
        with pytest.raises(dk.StoreError, match=r"locked by another process \(PID \d+\).*timeout="):
            dk.Store(path, read_only=True)
        opened: list[dk.Store] = []
        waiter = threading.Thread(target=lambda: opened.append(dk.Store(path, read_only=True, timeout=60)))
        started = time.monotonic()
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive(), "the waiter should wait for the write to finish"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "done"
        waiter.join(60)
        assert len(opened) == 1 and time.monotonic() - started < 60
        with opened[0] as store:
            assert flows.read_flow_by_name(store, "from-the-cli") is not None
    finally:
        holder.communicate("\n\n\n", timeout=60)


def test_a_lazy_table_holds_no_lock_until_collected(tmp_path):
    path = tmp_path / "lazy.duckdb"
    with dk.Store(path) as store:
        flows.create_flow(store, dk.Flow(name="a"))
        frame = store.table("flow").filter(pl.col("name") != "zzz").select("name")
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, deploykit as dk; from deploykit.models import flows; "
                "flows.create_flow(dk.Store(sys.argv[1]), dk.Flow(name='b'))",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr[-2000:]
        assert sorted(frame.collect()["name"].to_list()) == ["a", "b"]


def test_hold_shares_one_open_across_operations(tmp_path, monkeypatch):
    from deploykit.store import _connection

    path = tmp_path / "held.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        attaches: list[bool] = []
        real = _connection.FileHandle._attach
        monkeypatch.setattr(
            _connection.FileHandle, "_attach", lambda h, write: (attaches.append(write), real(h, write))[1]
        )
        with store.hold():
            for _ in range(5):
                assert flows.read_flow(store, flow.id) is not None
            with pytest.raises(dk.StoreError, match="inside a read-only operation"):
                flows.create_flow(store, dk.Flow(name="nope"))
        assert attaches == [False]
        with store.hold(write=True):
            for i in range(3):
                flows.create_flow(store, dk.Flow(name=f"f{i}"))
        assert attaches == [False, True]
        assert D.count_deployments(store) == 0 and len(store.sql("SELECT * FROM flow")) == 4
