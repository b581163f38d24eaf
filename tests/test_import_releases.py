"""Every Prefect release 2.10 -> 3.x in, by REST bodies and by SQLite database (issue 12).

The fixtures were made by real Prefect servers (tests/fixtures/prefect-*/README.md).
What the store holds is compared with the JSON bodies directly (not through
deploykit's export): counts, ids, schedules with their active flags, paused, states
and times; exporting an import gives the bodies back; previews over the fixture's
week equal what the release's own schedule classes gave.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from conftest import assert_unchanged, snapshot
from dateutil.rrule import rrulestr

import deploykit as dk
from deploykit.io import SourceError, export_prefect_api, import_prefect_api, import_prefect_db
from deploykit.io._releases import BODY_KEYS, RELEASES, REVISIONS, release_of_bodies, release_of_revision

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE_DIRS = {"2.10": "prefect-2.10", "2.14": "prefect-2.14", "2.20": "prefect-2.20", "3.x": "prefect-3.x"}
KINDS = {
    "flows": "flow",
    "work_pools": "work_pool",
    "work_queues": "work_queue",
    "deployments": "deployment",
    "flow_runs": "flow_run",
    "task_runs": "task_run",
}
RUN_TIMES = ("created", "updated", "expected_start_time", "start_time", "end_time")


def bodies(folder: Path, kind: str) -> list[dict]:
    return json.loads((folder / f"api-{kind}.json").read_text())


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _rows(store: dk.Store, table: str) -> dict[str, dict]:
    frame = store.sql(f"SELECT * FROM {table}")
    return {str(r["id"]): r for r in frame.iter_rows(named=True)}


def _schedules(body: dict) -> list[tuple[dict, bool]]:
    """A deployment body's schedules and their active flags, whatever the release."""
    if "schedules" in body:
        return [(s["schedule"], s["active"]) for s in body["schedules"]]
    return [] if body.get("schedule") is None else [(body["schedule"], True)]


def _paused(body: dict) -> bool:
    return body["paused"] if "paused" in body else not body["is_schedule_active"]


def check_store_equals_bodies(store: dk.Store, folder: Path) -> None:
    """The store holds what the bodies in ``folder`` say (read straight from the JSON)."""
    for kind, table in KINDS.items():
        expected = {b["id"] for b in bodies(folder, kind)}
        assert set(_rows(store, table)) == expected, kind
    deployments = _rows(store, "deployment")
    schedules = store.sql("SELECT * FROM deployment_schedule").iter_rows(named=True)
    stored: dict[str, list[tuple[dict, bool, str]]] = {}
    for s in schedules:
        item = (json.loads(s["schedule"]), s["active"], str(s["id"]))
        stored.setdefault(str(s["deployment_id"]), []).append(item)
    total = 0
    for body in bodies(folder, "deployments"):
        row = deployments[body["id"]]
        assert row["paused"] == _paused(body), body["name"]
        assert row["created"] == _instant(body["created"]) and row["updated"] == _instant(body["updated"])
        mine = sorted((json.dumps(s, sort_keys=True), a) for s, a, _ in stored.get(body["id"], []))
        theirs = sorted((json.dumps(s, sort_keys=True), a) for s, a in _schedules(body))
        assert mine == theirs, body["name"]
        if "schedules" in body:
            assert {i for _, _, i in stored.get(body["id"], [])} == {s["id"] for s in body["schedules"]}
        total += len(theirs)
        model = dk.models.deployments.read_deployment(store, body["id"])
        assert model.paused == _paused(body) and model.is_schedule_active == (not _paused(body))
    assert store.sql("SELECT count(*) AS n FROM deployment_schedule")["n"][0] == total
    for kind in ("flow_runs", "task_runs"):
        rows = _rows(store, KINDS[kind])
        for body in bodies(folder, kind):
            row = rows[body["id"]]
            state = body.get("state") or {}
            assert row["state_type"] == body["state_type"] and row["state_name"] == body["state_name"]
            assert row["state_timestamp"] == _instant(state.get("timestamp")), (kind, body["id"])
            assert str(row["state_id"]) == str(body["state_id"]), (kind, body["id"])
            assert row["run_count"] == body["run_count"]
            assert row["total_run_time"] == pytest.approx(body["total_run_time"], abs=1e-6)
            for name in RUN_TIMES:
                assert row[name] == _instant(body[name]), (kind, body["id"], name)
            if kind == "task_runs":
                assert row["cache_key"] == body["cache_key"]
                assert row["task_inputs"] is None or json.loads(row["task_inputs"]) == body["task_inputs"]


SPEC_DIFFERENCES: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "2.10": {
        name: ([], ["2026-10-30T07:00:00+09:00", "2026-11-02T07:00:00+09:00", "2026-11-04T07:00:00+09:00"])
        for name in ("deploy-02", "deploy-06", "deploy-10", "deploy-22", "deploy-26", "deploy-38")
    },
    "2.14": {"d09-ny-dst": (["2026-11-01T01:00:00-05:00"], ["2026-11-01T01:00:00-04:00"])},
    "2.20": {"d09-ny-dst": (["2026-11-01T01:00:00-05:00"], ["2026-11-01T01:00:00-04:00"])},
    "3.x": {},
}
"""Where deploykit's preview differs from the release's own schedule classes, on purpose (SPEC
section 4): ``{deployment name: (dates only Prefect gives, dates only deploykit gives)}``, in the
schedule's timezone. 2.10's ``FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7`` (Asia/Tokyo, no DTSTART)
started when Prefect computed the preview, after the window, so it gave nothing; deploykit
starts it at 2020-01-01T00:00 Tokyo and fires Mon/Wed/Fri 07:00. 2.x's cron ``0 1-3 * * *`` in
America/New_York fires at the second 01:00 of 2026-11-01 (-05:00); deploykit, like Prefect 3,
once at the first (-04:00). Every other date is the release's own."""

RRULE_ANCHOR = datetime(2020, 1, 1)
"""SPEC section 4: a rule without DTSTART starts here, in the schedule's timezone."""


def _release_of_version(version: str) -> str:
    major, minor = version.split(".")[:2]
    return "3.x" if major == "3" else f"{major}.{minor}"


def _schedule_bodies(folder: Path) -> dict[tuple[str, str], dict]:
    """Each schedule of the bodies by ``(deployment id, schedule id)``, as the preview is keyed
    (``"schedule"`` for a release with one schedule per deployment)."""
    found = {}
    for body in bodies(folder, "deployments"):
        if body.get("schedules") or not body.get("schedule"):
            found.update({(body["id"], s["id"]): s["schedule"] for s in body.get("schedules", [])})
        else:
            found[body["id"], "schedule"] = body["schedule"]
    return found


def spec_dates(schedule: dict, theirs: list[datetime], start: datetime, end: datetime, release: str) -> list:
    """The dates deploykit documents for ``schedule`` in ``[start, end]``, given the release's own
    (``theirs``, UTC): the same, but where SPEC section 4 chose otherwise."""
    zone = ZoneInfo(schedule.get("timezone") or "UTC")
    if "rrule" in schedule and "DTSTART" not in schedule["rrule"].upper():
        rule = rrulestr(schedule["rrule"], dtstart=RRULE_ANCHOR.replace(tzinfo=zone))
        anchored = [d.astimezone(UTC) for d in rule.between(start, end, inc=True)]
        assert theirs == ([] if release == "2.10" else anchored), "2.10 starts it at parse time"
        return anchored
    if "cron" in schedule:  # an ambiguous wall time fires once, at its first occurrence
        return sorted({d.astimezone(zone).replace(fold=0).astimezone(UTC) for d in theirs})
    return theirs


def check_preview(store: dk.Store, expected_file: Path) -> None:
    """``preview_runs`` over the fixture's week gives, per schedule, the dates of the release's own
    schedule classes, but for the documented differences (exactly ``SPEC_DIFFERENCES``)."""
    expected = json.loads(expected_file.read_text())
    release = _release_of_version(expected["prefect_version"])
    start, end = datetime.fromisoformat(expected["start"]), datetime.fromisoformat(expected["end"])
    schedules = _schedule_bodies(expected_file.parent)
    frame = dk.models.deployments.preview_runs(store, start, end, max_runs=expected["n"])
    if "will_run" in frame.columns:  # runs of paused deployments / inactive schedules, marked
        frame = frame.filter(pl.col("will_run"))
    got: dict[tuple[str, str], list[datetime]] = {}
    for row in frame.iter_rows(named=True):
        dep = str(row["deployment_id"])
        key = (dep, "schedule") if (dep, "schedule") in schedules else (dep, str(row["schedule_id"]))
        got.setdefault(key, []).append(row["scheduled_time"].astimezone(UTC))
    want, differences = {}, {}
    for dep, by_schedule in expected["active"].items():
        for sid, dates in by_schedule.items():
            theirs = sorted(datetime.fromisoformat(d).astimezone(UTC) for d in dates)
            mine = spec_dates(schedules[dep, sid], theirs, start, end, release)
            want.update({(dep, sid): mine} if mine else {})
            if mine != theirs:
                zone = ZoneInfo(schedules[dep, sid].get("timezone") or "UTC")
                local = [
                    [d.astimezone(zone).isoformat() for d in sorted(set(a) - set(b))]
                    for a, b in ((theirs, mine), (mine, theirs))
                ]
                differences[expected["deployment_names"][dep]] = tuple(local)
    assert {k: sorted(v) for k, v in got.items()} == want
    assert differences == SPEC_DIFFERENCES[release]


@pytest.mark.parametrize("release", list(RELEASE_DIRS))
def test_rest_bodies_of_every_release(store, release):
    folder = FIXTURES / RELEASE_DIRS[release]
    report = import_prefect_api(store, folder)
    assert report.inserted["deployment"] == len(bodies(folder, "deployments"))
    check_store_equals_bodies(store, folder)
    again = import_prefect_api(store, folder)
    assert sum(again.inserted.values()) == 0
    check_store_equals_bodies(store, folder)


@pytest.mark.parametrize("release", list(RELEASE_DIRS))
def test_sqlite_database_of_every_release(store, release):
    folder = FIXTURES / RELEASE_DIRS[release]
    import_prefect_db(store, folder / "prefect.db", progress=False, chunk_rows=7)
    check_store_equals_bodies(store, folder)
    assert store.check_integrity().height == 0


@pytest.mark.parametrize("release", list(RELEASE_DIRS))
def test_export_of_an_import_gives_the_bodies_back(store, tmp_path, release):
    folder = FIXTURES / RELEASE_DIRS[release]
    import_prefect_api(store, folder)
    written = export_prefect_api(store, tmp_path, release=release)
    files = sorted(p.name for p in folder.glob("api-*.json"))
    assert sorted(written) == files
    for name in files:
        original = json.loads((folder / name).read_text())
        exported = json.loads((tmp_path / name).read_text())
        by_id = {b["id"]: b for b in exported}
        assert len(exported) == len(original), name
        for body in original:
            assert by_id[body["id"]] == body, (name, body["id"])
            assert list(by_id[body["id"]]) == list(body), (name, "key order")


def preview_case(release: str, *routes: str) -> list:
    """Test parameters ``(release, route)`` for the preview tests of every route."""
    return [pytest.param(release, route, id=f"{route}-{release}") for route in routes]


@pytest.mark.parametrize(
    ("release", "route"), [case for r in RELEASE_DIRS for case in preview_case(r, "api", "sqlite")]
)
def test_preview_is_the_release_own_but_where_spec_differs(store, release, route):
    folder = FIXTURES / RELEASE_DIRS[release]
    if route == "api":
        import_prefect_api(store, folder)
    else:
        import_prefect_db(store, folder / "prefect.db", progress=False)
    check_preview(store, folder / "expected-preview.json")


def test_database_work_queue_name_is_prefects_so_filters_agree(store):
    # Prefect 2.10 leaves deployment.work_queue_name null for deployments given only a pool;
    # its filter work_queue_name.any_ reads that column (issue 13 item 5).
    path = FIXTURES / "prefect-2.10" / "prefect.db"
    with sqlite3.connect(path) as conn:
        [(prefect,)] = conn.execute("SELECT count(*) FROM deployment WHERE work_queue_name IN ('default')")
    conn.close()
    import_prefect_db(store, path, progress=False)
    found = dk.models.deployments.count_deployments(
        store, deployment_filter={"work_queue_name": {"any_": ["default"]}}
    )
    assert (prefect, found) == (2, 2)


def test_release_detection():
    for release, folder in RELEASE_DIRS.items():
        if release in ("2.10",):
            continue
        revision = (FIXTURES / folder / "alembic_version.txt").read_text().strip()
        assert release_of_revision("sqlite", [revision], "x") == release
        pg = FIXTURES / folder / "alembic_version.pg.txt"
        if pg.exists():
            assert release_of_revision("postgresql", [pg.read_text().strip()], "x") == release
    assert release_of_revision("sqlite", ["2dbcec43c857"], "x") == "2.10"
    for release, folder in RELEASE_DIRS.items():
        deployments = bodies(FIXTURES / folder, "deployments")
        expected = release if release != "2.14" else "2.14"
        assert release_of_bodies("deployments", deployments) == expected
    heads = {r: [rev for rev, rel in REVISIONS["sqlite"].items() if rel == r][-1] for r in RELEASES}
    assert heads["3.x"] == "27d8f4e1a6c9"
    assert set(BODY_KEYS) == set(RELEASES)


def test_unknown_revision_names_it_and_the_known_releases(store, tmp_path):
    path = tmp_path / "prefect.db"
    shutil.copy(FIXTURES / "prefect-3.x" / "prefect.db", path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    conn.close()
    before = snapshot(store)
    with pytest.raises(SourceError) as info:
        import_prefect_db(store, path, progress=False)
    message = str(info.value)
    for word in ("ffffffffffff", "2.10", "2.14", "2.20", "3.x", "3.9.1", "sqlite"):
        assert word in message, (word, message)
    assert_unchanged(before, store)


def test_a_newer_release_body_keeps_its_unknown_fields(store, tmp_path):
    folder = FIXTURES / "prefect-3.x"
    for name in ("api-flows.json", "api-work_pools.json", "api-work_queues.json"):
        shutil.copy(folder / name, tmp_path / name)
    rows = bodies(folder, "deployments")
    newer = next(b for b in rows if b["schedules"])
    newer["brand_new_field"] = {"from": "Prefect 4"}
    newer["schedules"][0]["new_schedule_field"] = 7
    (tmp_path / "api-deployments.json").write_text(json.dumps(rows))
    import_prefect_api(store, tmp_path)
    extra = store.sql(f"SELECT extra FROM deployment WHERE id = '{newer['id']}'")["extra"][0]
    assert json.loads(extra)["brand_new_field"] == {"from": "Prefect 4"}
    export_prefect_api(store, tmp_path / "out", release="3.x")
    back = {b["id"]: b for b in json.loads((tmp_path / "out" / "api-deployments.json").read_text())}
    assert back[newer["id"]] == newer


def test_a_failed_import_leaves_the_store_as_it_was(store, tmp_path):
    import_prefect_api(store, FIXTURES / "prefect-2.14")
    before = snapshot(store)
    schedules = store.sql("SELECT * FROM deployment_schedule ORDER BY id")
    folder = tmp_path / "bad"
    skip = shutil.ignore_patterns("*.db", "*.gz", "postgres")
    shutil.copytree(FIXTURES / "prefect-3.x", folder, ignore=skip)
    runs = bodies(folder, "task_runs")
    runs[-1]["flow_run_id"] = "00000000-0000-0000-0000-000000000001"
    (folder / "api-task_runs.json").write_text(json.dumps(runs))
    with pytest.raises(dk.IntegrityError):
        import_prefect_api(store, folder)
    assert_unchanged(before, store)
    assert store.sql("SELECT * FROM deployment_schedule ORDER BY id").equals(schedules)
    path = tmp_path / "prefect.db"
    shutil.copy(FIXTURES / "prefect-2.20" / "prefect.db", path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE task_run SET flow_run_id = '00000000-0000-0000-0000-000000000001' "
            "WHERE id = (SELECT max(id) FROM task_run)"
        )
    conn.close()
    with pytest.raises(dk.IntegrityError):
        import_prefect_db(store, path, progress=False)
    assert_unchanged(before, store)
    assert store.sql("SELECT * FROM deployment_schedule ORDER BY id").equals(schedules)


def test_reimport_removes_schedules_the_source_no_longer_has(store, tmp_path):
    folder = FIXTURES / "prefect-3.x"
    import_prefect_api(store, folder)
    rows = bodies(folder, "deployments")
    several = next(b for b in rows if len(b["schedules"]) >= 2)
    several["schedules"] = several["schedules"][:1]
    (tmp_path / "api-deployments.json").write_text(json.dumps(rows))
    import_prefect_api(store, tmp_path)
    left = store.sql(f"SELECT id FROM deployment_schedule WHERE deployment_id = '{several['id']}'")
    assert [str(i) for i in left["id"]] == [several["schedules"][0]["id"]]


def test_legacy_schedule_ids_are_the_same_by_both_routes(store):
    folder = FIXTURES / "prefect-2.14"
    import_prefect_api(store, folder)
    with dk.Store() as other:
        import_prefect_db(other, folder / "prefect.db", progress=False)
        query = "SELECT id, deployment_id, schedule, active FROM deployment_schedule ORDER BY id"
        assert other.sql(query).equals(store.sql(query))
        assert isinstance(other.sql(query), pl.DataFrame)
