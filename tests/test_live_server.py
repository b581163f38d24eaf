"""A live Prefect server route (issue 12): ``fetch_prefect`` against a real ``prefect server start``.

For each release below, the committed SQLite database of its fixture is copied, and that
release's own server (installed by ``scripts/install_prefect.sh`` into ``.prefect/<release>``
from the pins the fixtures were made with) serves it on 127.0.0.1 with every background
service off (``scripts/prefect_fixtures/make.py``'s ``Server``, the one that made the
fixtures). What ``fetch_prefect`` reads from it must equal ``import_prefect_db`` of the same
file, row by row, and the committed REST bodies (counts, ids, schedules with their active
flags, paused, states and times); its preview is the release's own, as for the other routes.

Without an installed server the tests skip when run by hand, but FAIL where the component is
required: in CI (``CI=true``) and under ``python3 scripts/dev.py test``
(``DEPLOYKIT_REQUIRE_PREFECT=1``, set after it runs the install script). Nothing is
downloaded here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_import_releases import check_preview, check_store_equals_bodies

import deploykit as dk
from deploykit.io import fetch_prefect, import_prefect_db
from deploykit.store import STORED_TABLES

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
LIVE_RELEASES = {"3.x": "prefect-3.x", "2.20": "prefect-2.20"}
"""The releases whose server ``scripts/install_prefect.sh`` installs, and their fixture folders."""
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
STARTUP_SECONDS = 300
"""How long a server may take to answer /api/health (a loaded CI machine needs a minute)."""


def _server_class() -> Any:
    """``Server`` of ``scripts/prefect_fixtures/make.py``: start, wait for health, stop."""
    spec = importlib.util.spec_from_file_location(
        "prefect_fixtures_make", ROOT / "scripts/prefect_fixtures/make.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Server


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true" or os.environ.get("DEPLOYKIT_REQUIRE_PREFECT") == "1":
        pytest.fail(f"a live Prefect server is required here: {why}")
    pytest.skip(f"{why}; run `bash scripts/install_prefect.sh`")


@pytest.fixture(scope="module", params=list(LIVE_RELEASES))
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """``(release, api_url)``: the release's own server on a copy of its fixture database."""
    release = request.param
    venv = ROOT / ".prefect" / release
    if not (venv / "bin" / "prefect").exists():
        _unavailable(f"no Prefect {release} server in {venv}")
    home = tmp_path_factory.mktemp(f"prefect-{release}")
    database = home / "prefect.db"
    shutil.copyfile(FIXTURES / LIVE_RELEASES[release] / "prefect.db", database)
    server = _server_class()(venv, home, f"sqlite+aiosqlite:///{database}", old_cli=False)
    try:
        server.wait(timeout=STARTUP_SECONDS)  # a server that is installed but will not start fails
        yield release, server.api
    finally:
        server.stop()


def _read_time_fields(table: str, row: dict) -> set[str]:
    """Columns the REST API computes when it answers, so they differ from the database by design.

    ``extra`` holds the fields of a body deploykit does not model (a database has others);
    a run not yet finished has its estimated times counted up to "now"; Prefect reports no
    ``status`` for a ``prefect-agent`` pool.
    """
    fields = {"extra"}
    if table in ("flow_run", "task_run") and row["state_type"] not in TERMINAL:
        fields |= {"estimated_run_time", "estimated_start_time_delta"}
    if table == "work_pool" and row["type"] == "prefect-agent":
        fields.add("status")
    return fields


def _rows(store: dk.Store, table: str) -> dict[str, dict]:
    """Every row by id; JSON text as values (a server writes ``0.0`` where SQLite kept ``0``)."""
    rows = {}
    for row in store.sql(f"SELECT * FROM {table}").iter_rows(named=True):
        text = {
            k: json.loads(v) if isinstance(v, str) and v.startswith(("{", "[")) else v for k, v in row.items()
        }
        rows[str(row["id"])] = text
    return rows


def assert_same_rows(served: dk.Store, stored: dk.Store) -> None:
    """Both stores hold the same rows with the same values, but for the read-time fields."""
    for table in STORED_TABLES:
        mine, theirs = _rows(served, table), _rows(stored, table)
        assert sorted(mine) == sorted(theirs), table
        for key, row in theirs.items():
            skip = _read_time_fields(table, row)
            got = {k: v for k, v in mine[key].items() if k not in skip}
            assert got == {k: v for k, v in row.items() if k not in skip}, (table, key)


def test_a_live_server_serves_what_its_database_holds(store, live):
    release, api = live
    folder = FIXTURES / LIVE_RELEASES[release]
    report = fetch_prefect(store, api, progress=False, page_size=37)
    assert report.inserted["deployment"] == len(json.loads((folder / "api-deployments.json").read_text()))
    check_store_equals_bodies(store, folder)
    with dk.Store() as database:
        import_prefect_db(database, folder / "prefect.db", progress=False)
        assert_same_rows(store, database)
    assert store.check_integrity().height == 0
    again = fetch_prefect(store, api, progress=False)
    assert sum(again.inserted.values()) == 0
    check_store_equals_bodies(store, folder)
    check_preview(store, folder / "expected-preview.json")
