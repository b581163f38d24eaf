"""Concurrent use: one Store shared by threads, and several processes on one store file.

DuckDB 2.0's file lock allows one writable process *or* any number of read-only ones
(see ``deploykit.store``). These tests pin deploykit's rules on top of it: a blocked
open fails at once with ``StoreError("store ... is locked by another process")``, or
retries for ``timeout=`` seconds; a writer that opens per batch and readers that pass a
timeout take turns and every reader sees whole batches only.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flows
from deploykit.store import _connection as store_module

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx() -> Iterator[Any]:
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["deploykit", "deploykit.models.deployments"])
    yield context


# --- threads ----------------------------------------------------------------------------------


def _run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Run each target in its own thread; return every exception raised."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # collected and reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_widget_reads_alongside_a_scheduling_thread(tmp_path):
    with dk.Store(tmp_path / "shared.duckdb") as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        ids = [
            D.create_deployment(
                store,
                dk.Deployment(
                    name=f"d{i}",
                    flow_id=flow.id,
                    tags=["prod"] if i % 2 else ["dev"],
                    work_queue_name="etl",
                    schedule={"interval": 3600 * (1 + i % 3), "anchor_date": "2024-01-01T00:00:00Z"},
                ),
            ).id
            for i in range(20)
        ]
        created: list[int] = []
        new_names = [f"bg-{i}" for i in range(30)]
        stop = threading.Event()
        reads = [0]

        def scheduler() -> None:
            try:
                for round_ in range(5):
                    for dep in ids:
                        start = START + timedelta(days=10 * round_)
                        created.append(len(D.schedule_runs(store, dep, start_time=start)))
                for name in new_names:
                    D.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id, tags=["prod"]))
            finally:
                stop.set()

        def widget() -> None:
            last = 0
            while not stop.is_set():
                n = D.count_deployments(store)
                assert n >= last, "count went backwards"
                last = n
                frame = D.read_deployments(store, deployment_filter={"tags": {"all_": ["prod"]}})
                assert frame["name"].is_unique().all()
                assert set(frame["tags"].explode().to_list()) == {"prod"}
                runs = store.sql("SELECT count(*) AS n, count(DISTINCT idempotency_key) AS k FROM flow_run")
                assert runs["n"][0] == runs["k"][0]
                assert "etl" in D.check_work_queues_for_deployment(store, ids[0])["name"]
                assert store.check_integrity().is_empty()
                reads[0] += 1

        errors = _run_threads([scheduler, widget, widget, widget])
        assert errors == []
        assert reads[0] > 0
        assert D.count_deployments(store) == 20 + len(new_names)
        assert store.sql("SELECT count(*) AS n FROM flow_run")["n"][0] == sum(created)
        assert sum(created) > 0


def test_concurrent_upserts_of_the_same_names_from_threads(store, flow):
    names = [f"d{i}" for i in range(10)]

    def writer(tag: str) -> Callable[[], None]:
        def run() -> None:
            for name in names:
                D.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id, tags=[tag]))
            D.create_deployments(
                store,
                pl.DataFrame({"name": names, "flow_id": [str(flow.id)] * 10, "description": [tag] * 10}),
            )

        return run

    assert _run_threads([writer(f"w{i}") for i in range(4)]) == []
    frame = D.read_deployments(store)
    assert frame["name"].to_list() == sorted(names)
    # each row is one writer's last whole write: tags from create_deployment, description
    # from create_deployments, of any writers (merge rules), never a mix within one column
    assert frame["description"].is_in([f"w{i}" for i in range(4)]).all()


# --- processes --------------------------------------------------------------------------------


def _hold(path: str, read_only: bool, pipe: Connection) -> None:
    """Keep the store in the middle of an operation (holding its lock) until told to close.

    An idle ``Store`` holds no lock (see ``deploykit.store``); an operation does.
    """
    with dk.Store(path, read_only=read_only) as store, store.transaction():
        pipe.send("open")
        pipe.recv()


def _holder(ctx: Any, path: Path, read_only: bool) -> tuple[Any, Connection]:
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_hold, args=(str(path), read_only, theirs))
    proc.start()
    assert ours.poll(60) and ours.recv() == "open"
    return proc, ours


def _release(proc: Any, pipe: Connection) -> None:
    pipe.send("close")
    proc.join(30)
    assert proc.exitcode == 0


def _count_connects(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record each attempt deploykit makes to open (attach) a store file (its read_only flag)."""
    calls: list[bool] = []
    real = store_module.FileHandle._attach

    def counting(handle: Any, write: bool) -> None:
        calls.append(not write)
        return real(handle, write)

    monkeypatch.setattr(store_module.FileHandle, "_attach", counting)
    return calls


@pytest.mark.parametrize("holder_read_only", [False, True], ids=["writer_holds", "reader_holds"])
def test_a_blocked_writer_fails_at_once_with_a_clear_error(ctx, tmp_path, monkeypatch, holder_read_only):
    path = tmp_path / "locked.duckdb"
    dk.Store(path).close()
    before = path.read_bytes()
    proc, pipe = _holder(ctx, path, holder_read_only)
    try:
        calls = _count_connects(monkeypatch)
        started = time.perf_counter()
        with pytest.raises(dk.StoreError, match=rf"locked by another process \(PID {proc.pid}\)"):
            dk.Store(path)
        print(f"\nsecond writer refused after {time.perf_counter() - started:.3f} s")
        # one read-only check of the file, then (when readers hold it) one writable open
        assert calls == ([True] if not holder_read_only else [True, False]), "no retries"
    finally:
        _release(proc, pipe)
    assert path.read_bytes() == before


def test_a_reader_cannot_open_while_a_writer_holds_the_file(ctx, tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    dk.Store(path).close()
    proc, pipe = _holder(ctx, path, False)
    try:
        calls = _count_connects(monkeypatch)
        with pytest.raises(dk.StoreError, match=r"locked by another process.*after waiting 0.3 s"):
            dk.Store(path, read_only=True, timeout=0.3)
        assert len(calls) > 1, "timeout>0 must retry"
    finally:
        _release(proc, pipe)


def test_readers_share_the_file(ctx, tmp_path):
    path = tmp_path / "r.duckdb"
    with dk.Store(path) as store:
        flows.create_flow(store, dk.Flow(name="etl"))
    proc, pipe = _holder(ctx, path, True)
    try:
        with dk.Store(path, read_only=True) as store:
            assert flows.read_flow_by_name(store, "etl") is not None
    finally:
        _release(proc, pipe)


def test_timeout_waits_for_the_holder_to_close(ctx, tmp_path):
    path = tmp_path / "wait.duckdb"
    dk.Store(path).close()
    proc, pipe = _holder(ctx, path, False)
    opened: list[dk.Store] = []
    waiter = threading.Thread(target=lambda: opened.append(dk.Store(path, timeout=60)))
    waiter.start()
    _release(proc, pipe)
    waiter.join(90)
    assert len(opened) == 1
    opened[0].close()


def test_mixing_modes_in_one_process_is_refused_clearly(tmp_path):
    path = tmp_path / "mixed.duckdb"
    with dk.Store(path), pytest.raises(dk.StoreError, match="already open writable in this process"):
        dk.Store(path, read_only=True)


def test_timeout_must_not_be_negative(tmp_path):
    with pytest.raises(ValueError, match="timeout"):
        dk.Store(tmp_path / "t.duckdb", timeout=-1)


BATCH = 25


def _writer(path: str, batches: int, pipe: Connection) -> None:
    """Add ``batches`` batches of deployments, opening the store once per batch."""
    with dk.Store(path, timeout=60) as store:
        flow_id = str(flows.create_flow(store, dk.Flow(name="etl")).id)
    pipe.send("flow")
    for b in range(batches):
        with dk.Store(path, timeout=60) as store:
            names = [f"b{b}-{i}" for i in range(BATCH)]
            D.create_deployments(store, pl.DataFrame({"name": names, "flow_id": [flow_id] * BATCH}))
        time.sleep(0.02)  # give readers a turn between batches
    pipe.send("done")


def _reader(path: str, pipe: Connection) -> None:
    """Read counts until told to stop; send them all back."""
    seen: list[int] = []
    while not pipe.poll(0.02):
        with dk.Store(path, read_only=True, timeout=60) as store:
            seen.append(D.count_deployments(store))
            assert store.check_integrity().is_empty()
    pipe.recv()
    pipe.send(seen)


def test_one_writer_and_several_reader_processes_take_turns(ctx, tmp_path):
    path = tmp_path / "fleet.duckdb"
    dk.Store(path).close()
    batches = 12
    w_ours, w_theirs = ctx.Pipe()
    writer = ctx.Process(target=_writer, args=(str(path), batches, w_theirs))
    writer.start()
    assert w_ours.poll(60) and w_ours.recv() == "flow"
    readers = []
    for _ in range(3):
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_reader, args=(str(path), theirs))
        proc.start()
        readers.append((proc, ours))
    assert w_ours.poll(120) and w_ours.recv() == "done"
    writer.join(30)
    assert writer.exitcode == 0
    seen: list[list[int]] = []
    for proc, pipe in readers:
        pipe.send("stop")
        assert pipe.poll(60)
        seen.append(pipe.recv())
        proc.join(30)
        assert proc.exitcode == 0
    for counts in seen:
        assert counts, "a reader never got in"
        assert all(n % BATCH == 0 for n in counts), "a reader saw part of a batch"
        assert counts == sorted(counts), "a reader saw the count go backwards"
    with dk.Store(path, read_only=True) as store:
        assert D.count_deployments(store) == batches * BATCH
    print(
        f"\nreader opens: {[len(c) for c in seen]}, distinct counts seen: "
        f"{sorted({n for c in seen for n in c})}"
    )


def test_reopening_files_while_other_threads_hold_transactions(tmp_path):
    """A file detached by one thread re-attaches while other threads' transactions run.

    DuckDB closes a detached file only once transactions that began before the detach end;
    until then re-attaching it fails with "Unique file handle conflict" (seen in CI when the
    crash test checked killed stores from four threads). The store waits that out.
    """
    base = tmp_path / "base.duckdb"
    dk.Store(base).close()

    def reopen(i: int) -> None:
        path = tmp_path / f"copy-{i}.duckdb"
        path.write_bytes(base.read_bytes())
        for _ in range(10):
            with dk.Store(path) as store, store.transaction() as cur:
                cur.execute("SELECT count(*) FROM deployment").fetchall()
                time.sleep(0.002)
            dk.Store(path, read_only=True).close()

    errors = _run_threads([lambda i=i: reopen(i) for i in range(8)])
    assert errors == []
