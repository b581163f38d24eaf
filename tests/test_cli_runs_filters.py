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
