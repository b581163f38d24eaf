"""``deploykit health``, ``late`` and ``missed`` through their argparse handlers."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

import deploykit as dk
from deploykit.history import deployment_health, late_runs, missed_runs
from deploykit.io import import_prefect_api

history_cli = pytest.importorskip("deploykit.cli.history")

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
AS_OF = "2026-11-27T22:41:00+00:00"


@pytest.fixture(scope="module")
def store_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "ops.duckdb"
    with dk.Store(path) as store:
        import_prefect_api(store, FIXTURES)
    return path


def run(argv: list[str], capsys) -> str:
    parser = argparse.ArgumentParser(prog="deploykit")
    history_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.run(args)
    return capsys.readouterr().out


def test_health_csv_equals_the_function(store_file, capsys):
    out = run(["health", "--store", str(store_file), "--as-of", AS_OF, "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    with dk.Store(store_file, read_only=True) as store:
        expected = deployment_health(store, as_of=_as_of())
    assert [r["deployment_id"] for r in rows] == expected["deployment_id"].to_list()
    assert [r["status"] for r in rows] == expected["status"].to_list()


def test_health_failing_json_and_filters(store_file, capsys):
    argv = ["health", "--store", str(store_file), "--as-of", AS_OF, "--failing", "--format", "json"]
    rows = json.loads(run([*argv, "--work-pool", "k8s-pool"], capsys))
    with dk.Store(store_file, read_only=True) as store:
        expected = deployment_health(store, as_of=_as_of(), work_pool_filter={"name": {"any_": ["k8s-pool"]}})
    failing = expected.filter(expected["status"] == "failing")
    assert [r["deployment_id"] for r in rows] == failing["deployment_id"].to_list() and rows
    assert {r["work_pool_name"] for r in rows} == {"k8s-pool"}


def test_health_table_and_markdown(store_file, capsys):
    table = run(["health", "--store", str(store_file), "--as-of", AS_OF, "--since", "1d"], capsys)
    assert "failure_streak" in table and "status" in table and "deployment_id" not in table
    markdown = run(["health", "--store", str(store_file), "--as-of", AS_OF, "--format", "markdown"], capsys)
    lines = markdown.strip().splitlines()
    assert lines[0].startswith("| deployment_id") and set(lines[1]) <= {"|", "-", ":", " "}
    assert len(lines) == 2 + 40


def test_late_and_missed(store_file, capsys):
    rows = json.loads(run(["late", "--store", str(store_file), "--as-of", AS_OF, "--format", "json"], capsys))
    with dk.Store(store_file, read_only=True) as store:
        late = late_runs(store, as_of=_as_of())
        missed = missed_runs(store, _as_of() - __import__("datetime").timedelta(days=7), _as_of())
    assert [r["flow_run_id"] for r in rows] == late["flow_run_id"].to_list() and rows
    out = run(["missed", "--store", str(store_file), "--as-of", AS_OF, "--format", "csv"], capsys)
    assert len(list(csv.DictReader(io.StringIO(out)))) == missed.height > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["health", "--since", "2024-01-01T00:00:00"], "--since '2024-01-01T00:00:00' has no UTC offset"),
        (["late", "--until", "yesterday"], "--until 'yesterday' is neither"),
        (["health", "--since", "2024-02-01T00:00:00Z", "--until", "2024-01-01T00:00:00Z"], "is after until"),
    ],
)
def test_bad_times_are_clear_errors(store_file, capsys, argv, message):
    with pytest.raises(ValueError, match=message):
        run([*argv, "--store", str(store_file)], capsys)


def _as_of():
    from datetime import datetime

    return datetime.fromisoformat(AS_OF)


def test_report_section_tables_and_figures(store_file):
    with dk.Store(store_file, read_only=True) as store:
        tables, figures = history_cli.report_section(store, as_of=_as_of())
        assert tables["deployment_health"].equals(
            deployment_health(
                store, since=_as_of() - __import__("datetime").timedelta(days=7), as_of=_as_of()
            )
        )
    assert tables["late_runs"].height > 0 and tables["missed_runs"].height > 0
    assert set(figures) == {"run_activity", "run_duration"}
    assert int(figures["run_activity"].axes[0].images[0].get_array().sum()) > 0
