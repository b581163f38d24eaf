"""Import 1,000,000 flow runs from Parquet and from a Prefect-schema SQLite file.

Generates the data in bulk with Polars (100 flows, N flow runs), writes it as a
deploykit Parquet export and as a Prefect 2.10 server database (the fixture's real
schema, emptied and refilled), then imports each into a fresh file store in a child
process, then imports the same source again into that store (every row already there),
and reports wall time and the child's peak RSS of both as a markdown table.

Usage::

    python benchmarks/bench_import.py [--runs 1000000] [--chunk-rows 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl

from deploykit.io._parquet import write_manifest

FIXTURE_DB = Path(__file__).parents[1] / "tests" / "fixtures" / "prefect-2.10" / "prefect.db"
STATES = ["COMPLETED", "FAILED", "RUNNING", "SCHEDULED", "CANCELLED", "CRASHED", "PENDING"]


def make_frames(runs: int) -> dict[str, pl.DataFrame]:
    """100 flows and ``runs`` flow runs in the store's column layout."""
    flow_ids = [str(uuid.uuid4()) for _ in range(100)]
    start = pl.datetime(2023, 1, 1, time_zone="UTC")
    flows = pl.DataFrame({"id": flow_ids, "name": [f"flow-{i}" for i in range(100)]}).with_columns(
        created=start, updated=start, tags=pl.lit([], dtype=pl.List(pl.String))
    )
    i = pl.int_range(runs, eager=True)
    expected = pl.datetime(2023, 1, 1, time_zone="UTC") + pl.duration(minutes=pl.col("i"))
    state = pl.Series(STATES).gather(i % len(STATES))
    flow_runs = pl.DataFrame(
        {"id": [str(uuid.uuid4()) for _ in range(runs)], "i": i, "state_type": state}
    ).select(
        "id",
        created=expected,
        updated=expected + pl.duration(minutes=5),
        name=pl.format("run-{}", "i"),
        flow_id=pl.Series(flow_ids).gather(i % 100),
        parameters=pl.format('{{"n": {}}}', "i"),
        tags=pl.concat_list(pl.format("t{}", pl.col("i") % 10)),
        state_type="state_type",
        state_name=pl.col("state_type").str.to_titlecase(),
        state_timestamp=expected,
        expected_start_time=expected,
        start_time=expected,
        end_time=expected + pl.duration(minutes=3),
        auto_scheduled=pl.col("i") % 2 == 0,
    )
    return {"flow": flows, "flow_run": flow_runs}


def write_parquet(frames: dict[str, pl.DataFrame], folder: Path) -> None:
    folder.mkdir()
    for table, frame in frames.items():
        frame.write_parquet(folder / f"{table}.parquet", row_group_size=100_000)
    write_manifest(folder, {t: f.height for t, f in frames.items()})


def write_prefect_db(frames: dict[str, pl.DataFrame], path: Path) -> None:
    """Prefect's real schema (from the fixture), emptied, refilled with the frames."""
    shutil.copy(FIXTURE_DB, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    for table in ("task_run", "flow_run_state", "flow_run", "deployment", "work_queue"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("UPDATE work_pool SET default_queue_id = NULL")
    conn.execute("DELETE FROM work_pool")
    conn.execute("DELETE FROM flow")
    for table, frame in frames.items():
        text = frame.with_columns(
            pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S.%6f"),
            pl.col(pl.List(pl.String))
            .list.join('","')
            .map_elements(lambda s: f'["{s}"]' if s else "[]", return_dtype=pl.String),
        )
        cols = ", ".join(text.columns)
        marks = ", ".join("?" * len(text.columns))
        for chunk in text.iter_slices(100_000):
            conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", chunk.rows())
    conn.commit()
    conn.close()


CHILD = """
import sys
import deploykit as dk
from deploykit.io import import_parquet, import_prefect_db
kind, source, store_path, chunk, again = sys.argv[1:6]
load = import_parquet if kind == "parquet" else import_prefect_db
with dk.Store(store_path) as store:
    report = load(store, source, chunk_rows=int(chunk), progress=False)
    assert (report.updated if again == "1" else report.inserted)["flow_run"] > 0
"""


def run_child(kind: str, source: Path, store: Path, chunk_rows: int, again: bool) -> tuple[float, float]:
    """Import in a fresh process (``again``: into the store a first import filled); return
    (seconds, peak RSS in MiB) of that process."""
    start = time.perf_counter()
    args = [sys.executable, "-c", CHILD, kind, str(source), str(store), str(chunk_rows), str(int(again))]
    proc = subprocess.Popen(args)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{kind} import failed")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frames = make_frames(args.runs)
        write_parquet(frames, root / "parquet")
        write_prefect_db(frames, root / "prefect.db")
        del frames
        rows = []
        for kind, source in (("parquet", root / "parquet"), ("prefect-db", root / "prefect.db")):
            store = root / f"{kind}.duckdb"
            seconds, rss = run_child(kind, source, store, args.chunk_rows, again=False)
            again, again_rss = run_child(kind, source, store, args.chunk_rows, again=True)
            figures = f"{seconds:.1f} | {rss:.0f} | {again:.1f} | {again_rss:.0f}"
            rows.append(f"| {kind} | {args.runs:,} | {figures} |")
    print(f"\nchunk rows: {args.chunk_rows:,}\n")
    print(
        "| source | flow runs | time (s) | peak RSS (MiB) | again, unchanged (s) | its peak RSS (MiB) |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
