"""Issue 13, ``deploykit runs``: the tag and work-queue filters select as Prefect's bodies say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests_support import cli_store, run_cli

RUNS = json.loads((Path(__file__).parent / "fixtures" / "prefect-2.10" / "api-flow_runs.json").read_text())


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return cli_store(tmp_path_factory.mktemp("runs") / "s.duckdb")


def _ids(capsys, db: str, *options: str) -> list[str]:
    code, out, err = run_cli(capsys, "runs", "--store", db, "--format", "json", *options)
    assert (code, err) == (0, "")
    return sorted(r["id"] for r in json.loads(out))


def test_runs_tag_takes_every_tag_given(db, capsys):
    first, second = next(r["tags"][:2] for r in RUNS if len(r["tags"]) >= 2)
    assert _ids(capsys, db, "--tag", first) == sorted(r["id"] for r in RUNS if first in r["tags"])
    both = sorted(r["id"] for r in RUNS if {first, second} <= set(r["tags"]))
    assert _ids(capsys, db, "--tag", first, "--tag", second) == both


def test_runs_work_queue_takes_any_queue_given(db, capsys):
    queues = sorted({r["work_queue_name"] for r in RUNS if r["work_queue_name"]})[:2]
    expected = sorted(r["id"] for r in RUNS if r["work_queue_name"] in queues)
    assert expected and _ids(capsys, db, *[a for q in queues for a in ("--work-queue", q)]) == expected


# --- the filters `ls` has, on Prefect 3.x runs (whose runs carry work_queue_id) -------------

FIXTURES_3 = Path(__file__).parent / "fixtures" / "prefect-3.x"
RUNS_3 = json.loads((FIXTURES_3 / "api-flow_runs.json").read_text())
QUEUES_3 = {q["id"]: q for q in json.loads((FIXTURES_3 / "api-work_queues.json").read_text())}
FLOWS_3 = {f["id"]: f["name"] for f in json.loads((FIXTURES_3 / "api-flows.json").read_text())}


@pytest.fixture(scope="module")
def db3(tmp_path_factory):
    from deploykit.cli import main

    path = tmp_path_factory.mktemp("runs3") / "s.duckdb"
    assert main(["import", str(FIXTURES_3), "--store", str(path)]) == 0
    return str(path)


def _pool_of(run: dict) -> str | None:
    queue = QUEUES_3.get(run["work_queue_id"])
    return queue and queue["work_pool_name"]


def test_runs_work_pool_takes_the_pool_of_each_runs_queue(db3, capsys):
    pools = sorted({p for r in RUNS_3 if (p := _pool_of(r))})
    assert len(pools) >= 2
    for pool in pools[:2]:
        expected = sorted(r["id"] for r in RUNS_3 if _pool_of(r) == pool)
        assert _ids(capsys, db3, "--work-pool", pool) == expected
    both = sorted(r["id"] for r in RUNS_3 if _pool_of(r) in pools[:2])
    assert _ids(capsys, db3, "--work-pool", pools[0], "--work-pool", pools[1]) == both


def test_runs_name_like_is_a_case_insensitive_substring(db3, capsys):
    part = RUNS_3[0]["name"][1:4].upper()
    expected = sorted(r["id"] for r in RUNS_3 if part.lower() in r["name"].lower())
    assert expected and _ids(capsys, db3, "--name-like", part) == expected


def test_runs_flow_pages_after_selecting_the_flow(db3, capsys):
    from collections import Counter

    flow = Counter(FLOWS_3[r["flow_id"]] for r in RUNS_3).most_common(1)[0][0]
    of_flow = sorted(
        (r for r in RUNS_3 if FLOWS_3[r["flow_id"]] == flow),
        key=lambda r: (r["expected_start_time"], r["id"]),
    )
    assert len(of_flow) >= 4
    options = ("--flow", flow, "--offset", "1", "--limit", "2", "--format", "json")
    code, out, _ = run_cli(capsys, "runs", "--store", db3, *options)
    assert code == 0 and [r["id"] for r in json.loads(out)] == [r["id"] for r in of_flow[1:3]]


def test_python_dash_m_deploykit_runs_the_command(db3):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "deploykit", "runs", "--store", db3, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(r["id"] for r in json.loads(done.stdout)) == sorted(r["id"] for r in RUNS_3)
