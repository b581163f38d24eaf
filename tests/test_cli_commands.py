"""The command line a Prefect user expects (issue 13) and no tracebacks on bad input (issue 15 item 7)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests_support import cli_store, run_cli

from deploykit.cli import build_parser, main

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
DEPLOYMENTS = json.loads((FIXTURES / "api-deployments.json").read_text())
FLOWS = {f["id"]: f["name"] for f in json.loads((FIXTURES / "api-flows.json").read_text())}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return cli_store(tmp_path_factory.mktemp("cli") / "s.duckdb")


def ref(dep: dict) -> str:
    return f"{FLOWS[dep['flow_id']]}/{dep['name']}"


def unique_name() -> dict:
    names = [d["name"] for d in DEPLOYMENTS]
    return next(
        d for d in DEPLOYMENTS if names.count(d["name"]) == 1 and d["schedule"] and d["is_schedule_active"]
    )


# --- preview ---------------------------------------------------------------------------------


def test_preview_window_flags(capsys):
    common = [
        "preview",
        "--cron",
        "0 * * * *",
        "--timezone",
        "UTC",
        "--start",
        "2024-01-01T00:00",
        "--format",
        "json",
    ]
    counts = {}
    for flags in (["--end", "2024-01-01T05:00"], ["--hours", "5"], ["--days", "0.5"]):
        code, out, err = run_cli(capsys, *common, *flags)
        assert code == 0, err
        counts[flags[0]] = len(json.loads(out))
    assert counts == {"--end": 6, "--hours": 6, "--days": 13}
    assert run_cli(capsys, *common, "--hours", "5", "--days", "1")[0] == 2  # one window end only


def test_preview_columns_dst_and_parseable_output(capsys):
    argv = ["preview", "--cron", "30 2 * * *", "--timezone", "America/New_York", "--start", "2023-03-11"]
    code, out, err = run_cli(capsys, *argv, "-n", "2", "--format", "json")
    rows = json.loads(out)  # nothing before the JSON
    assert code == 0 and err == ""
    assert list(rows[0]) == ["scheduled_time", "local_time", "timezone", "dst_adjusted", "schedule"]
    assert [r["dst_adjusted"] for r in rows] == [False, True]
    assert (
        rows[1]["local_time"] == "2023-03-12T03:00:00"
        and rows[1]["scheduled_time"] == "2023-03-12T07:00:00+00:00"
    )
    assert rows[0]["schedule"].startswith("At 02:30 AM")
    code, out, _ = run_cli(capsys, *argv, "-n", "2", "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert (
        len(parsed) == 2
        and parsed[1]["dst_adjusted"] == "true"
        and parsed[0]["timezone"] == "America/New_York"
    )


def test_preview_interval_durations_and_anchor(capsys):
    code, out, err = run_cli(
        capsys, "preview", "--interval", "1h", "--anchor", "2024-01-01T00:15:00+00:00",
        "--start", "2024-01-01T00:00:00+00:00", "-n", "2", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert [r["scheduled_time"] for r in json.loads(out)] == [
        "2024-01-01T00:15:00+00:00",
        "2024-01-01T01:15:00+00:00",
    ]
    code, _, err = run_cli(capsys, "preview", "--interval", "0")
    assert code == 1 and "must be positive" in err and "rrule" not in err
    code, _, err = run_cli(capsys, "preview", "--interval", "6x")
    assert code == 1 and "expected seconds (3600) or a duration" in err


def test_preview_of_a_paused_schedule_shows_no_runs(db, capsys):
    paused = next(d for d in DEPLOYMENTS if d["schedule"] and not d["is_schedule_active"])
    code, out, err = run_cli(capsys, "preview", ref(paused), "--store", db, "--format", "json")
    assert code == 0 and out == "" and "paused" in err


# --- ls, inspect, deployment references -----------------------------------------------------


def test_ls_names_first_ids_last_json_objects_one_timestamp_format(db, capsys):
    _, out, _ = run_cli(capsys, "ls", "--store", db, "--format", "json")
    rows = json.loads(out)
    columns = list(rows[0])
    assert columns[:5] == ["deployment", "flow_name", "name", "work_pool_name", "work_queue_name"]
    assert columns[-1].endswith("id") and columns.index("id") > columns.index("tags")
    assert all(c == "id" or c.endswith("_id") for c in columns[columns.index("id") :])
    by_name = {r["deployment"]: r for r in rows}
    for dep in DEPLOYMENTS:
        row = by_name[ref(dep)]
        assert isinstance(row["tags"], list) and isinstance(row["parameters"], dict)
        assert row["schedule"] is None or isinstance(row["schedule"], dict)
        assert ISO.match(row["updated"]), row["updated"]
    _, out, _ = run_cli(capsys, "ls", "--store", db, "--format", "csv")
    assert all(ISO.match(r["updated"]) for r in csv.DictReader(io.StringIO(out)))
    _, out, _ = run_cli(capsys, "ls", "--store", db)
    header = out.splitlines()[1]
    assert header.index("deployment") < header.index("work_pool_name") < header.index(" id ")


def test_inspect_accepts_every_reference_form(db, capsys):
    dep = unique_name()
    shown = []
    for given in (ref(dep), dep["name"], dep["id"]):
        code, out, err = run_cli(capsys, "inspect", given, "--store", db)
        assert code == 0, err
        shown.append(json.loads(out))
    assert {s["id"] for s in shown} == {dep["id"]}
    assert shown[0]["deployment"] == ref(dep) and shown[0]["schedule_status"] == "active"
    assert isinstance(shown[0]["parameters"], dict)


def test_reference_errors_say_which_forms_exist(db, capsys):
    names = [d["name"] for d in DEPLOYMENTS]
    shared = next((n for n in names if names.count(n) > 1), None)
    code, _, err = run_cli(capsys, "inspect", "no-such-deployment", "--store", db)
    assert code == 1 and "FLOW/DEPLOYMENT" in err and "id" in err and len(err.splitlines()) == 1
    if shared is not None:
        code, _, err = run_cli(capsys, "match", shared, "--store", db)
        assert code == 1 and "give FLOW/DEPLOYMENT" in err


# --- new commands ---------------------------------------------------------------------------


def test_work_queue_ls_and_preview(db, capsys):
    code, out, _ = run_cli(capsys, "work-queue", "ls", "--store", db, "--format", "json")
    queues = json.loads(out)
    assert code == 0 and len(queues) == len(json.loads((FIXTURES / "api-work_queues.json").read_text()))
    assert list(queues[0])[:2] == ["work_pool_name", "name"] and list(queues[0])[-1] == "work_pool_id"
    dep = next(d for d in DEPLOYMENTS if d["schedule"] and d["is_schedule_active"] and d["work_pool_name"])
    target = f"{dep['work_pool_name']}/{dep['work_queue_name']}"
    code, out, err = run_cli(
        capsys, "work-queue", "preview", target, "--hours", "48", "--store", db, "--format", "json",
        "--start", "2024-01-01T00:00:00+00:00",
    )  # fmt: skip
    assert code == 0, err
    runs = json.loads(out)
    assert runs and {r["work_queue_name"] for r in runs} == {dep["work_queue_name"]}
    assert dep["id"] in {r["deployment_id"] for r in runs}
    code, _, err = run_cli(capsys, "work-queue", "preview", "no-such-queue", "--store", db)
    assert code == 1 and "POOL/QUEUE" in err


def test_runs_lists_flow_runs_with_filters(db, capsys):
    flow_runs = json.loads((FIXTURES / "api-flow_runs.json").read_text())
    code, out, _ = run_cli(capsys, "runs", "--store", db, "--format", "json")
    assert code == 0 and len(json.loads(out)) == len(flow_runs)
    state = flow_runs[0]["state"]["type"]
    code, out, _ = run_cli(capsys, "runs", "--store", db, "--state", state.lower(), "--format", "json")
    rows = json.loads(out)
    assert len(rows) == sum(r["state"]["type"] == state for r in flow_runs) and rows[0]["flow_name"]
    with_dep = next(r for r in flow_runs if r["deployment_id"])
    dep = next(d for d in DEPLOYMENTS if d["id"] == with_dep["deployment_id"])
    code, out, _ = run_cli(capsys, "runs", "--store", db, "--deployment", ref(dep), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == sum(r["deployment_id"] == dep["id"] for r in flow_runs)
    assert {r["deployment"] for r in rows} == {ref(dep)}
    flow = FLOWS[dep["flow_id"]]
    code, out, _ = run_cli(capsys, "runs", "--store", db, "--flow", flow, "--limit", "2", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == min(2, sum(FLOWS[r["flow_id"]] == flow for r in flow_runs))
    assert {r["flow_name"] for r in rows} == {flow}


# --- errors and the store --------------------------------------------------------------------


def test_timeout_on_every_subcommand_reaches_the_store(db, capsys, monkeypatch):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    leaves = []
    for name, command in sub.choices.items():
        nested = [a for a in command._actions if a.dest == "work_queue_command"]
        leaves += [(f"{name} {n}", c) for n, c in nested[0].choices.items()] if nested else [(name, command)]
    for name, command in leaves:
        assert any("--timeout" in a.option_strings for a in command._actions), name
    import deploykit.store

    seen = []
    real = deploykit.store.Store

    def spy(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real(*args, **kwargs)

    monkeypatch.setattr(deploykit.store, "Store", spy)
    assert run_cli(capsys, "ls", "--store", db, "--timeout", "2.5")[0] == 0
    assert seen == [2.5]
    assert run_cli(capsys, "ls", "--store", db, "--timeout", "nan")[0] == 2


def test_errors_are_human(tmp_path, capsys):
    code, _, err = run_cli(capsys, "preview", "--cron", "61 * * * *")
    assert code == 1 and err.startswith("deploykit: error: ") and len(err.splitlines()) == 1
    assert "pydantic" not in err and "For further information" not in err and "type=" not in err
    store = tmp_path / "first.duckdb"
    code, _, err = run_cli(capsys, "import", "http://127.0.0.1:9", "--store", str(store))
    assert code == 1 and "ends in /api" in err and "http://127.0.0.1:9/api" in err
    assert not store.exists() and not Path(f"{store}.wal").exists()  # a failed first import leaves nothing
    bad = tmp_path / "api-flows.json"
    bad.write_text("[{")
    assert run_cli(capsys, "import", str(bad), "--store", str(store))[0] == 1
    assert not store.exists()


class _NamelessPool(BaseHTTPRequestHandler):
    """A Prefect API whose one work pool has no name."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.path.strip("/").split("/")[1]
        body = json.dumps(
            [{"id": "6b0e0a1e-0000-4000-8000-000000000001", "type": "process"}]
            if kind == "work_pools"
            else []
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def nameless_pool_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NamelessPool)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    httpd.shutdown()


def _bad_sources(tmp: Path) -> dict[str, list[str]]:
    """Issue 15 item 7's CLI cases (all but ``retries=-1``, which the CLI cannot pass)."""
    deep = tmp / "deep"
    deep.mkdir()
    (deep / "api-flows.json").write_text("[" * 100_000 + "]" * 100_000)
    running = tmp / "running"
    shutil.copytree(FIXTURES, running, ignore=shutil.ignore_patterns("prefect.db"))
    runs = json.loads((running / "api-flow_runs.json").read_text())
    runs[0]["state"] = "RUNNING"
    (running / "api-flow_runs.json").write_text(json.dumps(runs))
    db = tmp / "prefect.db"
    shutil.copy(FIXTURES / "prefect.db", db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE work_pool")
    conn.commit()
    conn.close()  # folds the WAL into the file
    parquet = tmp / "pq"
    assert main(["import", str(FIXTURES), "--store", str(tmp / "src.duckdb")]) == 0
    assert main(["export", "parquet", str(parquet), "--store", str(tmp / "src.duckdb")]) == 0
    manifest = json.loads((parquet / "manifest.json").read_text())
    entries = (
        manifest
        if isinstance(manifest, list)
        else next(v for v in manifest.values() if isinstance(v, list | dict))
    )
    first = entries[0] if isinstance(entries, list) else next(iter(entries.values()))
    first.pop("file", None)
    (parquet / "manifest.json").write_text(json.dumps(manifest))
    return {
        "ls --limit 2**63": ["ls", "--limit", "9223372036854775808"],
        "JSON nested 100,000 deep": ["import", str(deep)],
        'flow run "state": "RUNNING"': ["import", str(running)],
        "prefect.db missing tables": ["import", str(db)],
        "manifest entry without file": ["import", str(parquet)],
        "import http://[::1": ["import", "http://[::1"],
    }


def test_no_traceback_for_bad_input(tmp_path, capsys, nameless_pool_server):
    cases = _bad_sources(tmp_path)
    cases["work pool without a name"] = ["import", nameless_pool_server]
    capsys.readouterr()
    for n, (name, argv) in enumerate(cases.items()):
        code, out, err = run_cli(capsys, *argv, "--store", str(tmp_path / f"s{n}.duckdb"))
        assert code in (1, 2), (name, code, out, err)
        last = err.strip().splitlines()[-1]
        assert "Traceback" not in err and "error: " in last, (name, err)
        assert code == 2 or len(err.strip().splitlines()) == 1, (name, err)


@pytest.mark.parametrize("release", ["2.20", "3.x"])
def test_export_release_writes_that_releases_bodies(tmp_path, capsys, release):
    """``export prefect-api --release R`` of an import of R's bodies gives those bodies back (issue 12)."""
    folder = FIXTURES.parent / f"prefect-{release}"
    store = str(tmp_path / "s.duckdb")
    assert main(["import", str(folder), "--store", store]) == 0
    code, out, err = run_cli(
        capsys, "export", "prefect-api", str(tmp_path / "out"), "--release", release, "--store", store
    )
    assert (code, err) == (0, "") and out.splitlines()[-1].startswith("wrote "), (out, err)
    for path in sorted(folder.glob("api-*.json")):
        original = json.loads(path.read_text())
        exported = {b["id"]: b for b in json.loads((tmp_path / "out" / path.name).read_text())}
        assert [exported.get(b["id"]) for b in original] == original, path.name


def test_export_release_is_checked(db, tmp_path, capsys):
    """An unknown release names the known ones; Parquet, which has one shape, refuses ``--release``."""
    code, _, err = run_cli(
        capsys, "export", "prefect-api", str(tmp_path / "a"), "--release", "9.9", "--store", db
    )
    assert code == 1 and "'9.9'" in err and "2.10, 2.14, 2.20, 3.x" in err, err
    code, _, err = run_cli(
        capsys, "export", "parquet", str(tmp_path / "p"), "--release", "3.x", "--store", db
    )
    assert code == 1 and "--release applies to the prefect-api format only" in err, err
