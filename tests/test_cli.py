"""The deploykit command line, driven in-process through main() and once as a subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import cli_store, run_cli

from deploykit.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
DEPLOYMENTS = json.loads((FIXTURES / "api-deployments.json").read_text())
FLOWS = {f["id"]: f["name"] for f in json.loads((FIXTURES / "api-flows.json").read_text())}


@pytest.fixture
def db(tmp_path):
    return cli_store(tmp_path / "s.duckdb")


def test_ls_filters_and_formats(db, capsys):
    tag = DEPLOYMENTS[0]["tags"][0]
    code, out, _ = run_cli(capsys, "ls", "--store", db, "--tag", tag, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["name"] for r in rows) == sorted(d["name"] for d in DEPLOYMENTS if tag in d["tags"])
    pool = DEPLOYMENTS[0]["work_pool_name"]
    code, out, _ = run_cli(
        capsys,
        "ls",
        "--store",
        db,
        "--work-pool",
        pool,
        "--format",
        "json",
        "--limit",
        "3",
        "--sort",
        "name_desc",
    )
    names = [r["name"] for r in json.loads(out)]
    assert names == sorted((d["name"] for d in DEPLOYMENTS if d["work_pool_name"] == pool), reverse=True)[:3]
    code, out, _ = run_cli(capsys, "ls", "--store", db, "--inactive", "--format", "json")
    assert len(json.loads(out)) == sum(not d["is_schedule_active"] for d in DEPLOYMENTS)
    code, out, _ = run_cli(capsys, "ls", "--store", db)
    assert code == 0 and DEPLOYMENTS[0]["name"] in out


def test_preview_and_match(db, capsys):
    dep = next(d for d in DEPLOYMENTS if d["schedule"] and "cron" in d["schedule"])
    ref = f"{FLOWS[dep['flow_id']]}/{dep['name']}"
    code, out, _ = run_cli(capsys, "preview", ref, "--store", db, "-n", "3", "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 4  # header, 3 runs (issue 13: no comment line)
    code, out, _ = run_cli(
        capsys,
        "preview",
        "--interval",
        "3600",
        "--timezone",
        "UTC",
        "-n",
        "2",
        "--start",
        "2024-01-01T00:30:00+00:00",
        "--format",
        "json",
        "--store",
        db,
    )
    assert code == 0
    code, out, _ = run_cli(capsys, "match", ref, "--store", db, "--format", "json")
    rows = json.loads(out)
    assert len(rows) == len(json.loads((FIXTURES / "api-work_queues.json").read_text()))
    assert sum(r["assigned"] for r in rows) == 1


def test_export_and_reimport(db, tmp_path, capsys):
    assert main(["export", "parquet", str(tmp_path / "pq"), "--store", db]) == 0
    other = str(tmp_path / "o.duckdb")
    assert main(["import", str(tmp_path / "pq"), "--store", other]) == 0
    assert main(["export", "prefect-api", str(tmp_path / "api"), "--store", other]) == 0
    exported = json.loads((tmp_path / "api" / "api-deployments.json").read_text())
    assert {d["id"] for d in exported} == {d["id"] for d in DEPLOYMENTS}
    capsys.readouterr()


def test_report(db, tmp_path, capsys):
    assert main(["report", str(tmp_path / "r"), "--store", db]) == 0
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"report.md", "deployments_per_flow.csv", "schedule_kinds.csv"} <= names
    assert any(n.endswith(".png") for n in names)
    capsys.readouterr()


def test_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "api-flows.json"
    bad.write_text("[{")
    code, _, err = run_cli(capsys, "import", str(bad), "--store", str(tmp_path / "x.duckdb"))
    assert code == 1 and err.startswith("deploykit: error: ") and "api-flows.json" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = run_cli(capsys, "ls", "--store", str(tmp_path / "missing.duckdb"))
    assert code == 1 and "does not exist" in err
    code, _, err = run_cli(capsys, "preview", "--cron", "not a cron", "--store", str(tmp_path / "x.duckdb"))
    assert code == 1 and "cron" in err
    assert run_cli(capsys, "ls", "--bogus")[0] == 2
    assert run_cli(capsys)[0] == 2
    code, _out, _ = run_cli(capsys, "--help")
    assert code == 0 and "deploykit.duckdb" in run_cli(capsys, "ls", "--help")[1]


def test_demo_subprocess(tmp_path):
    repo = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "deploykit.cli", "demo", "--data", str(FIXTURES)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "deployments per flow" in done.stdout and "next runs" in done.stdout
    assert str(repo) not in done.stderr
