"""Importing Prefect REST API bodies and the Prefect server database; the full round trip."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest

import deploykit as dk
from deploykit.io import (
    export_parquet,
    export_prefect_api,
    import_parquet,
    import_prefect_api,
    import_prefect_db,
)
from deploykit.io._parquet import write_manifest
from deploykit.store import TABLES

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
SAMPLE = Path(__file__).parents[1] / "data"


def bodies(kind: str, folder: Path = FIXTURES) -> list[dict]:
    return json.loads((folder / f"api-{kind}.json").read_text())


def table(store: dk.Store, name: str):
    return store.sql(f"SELECT * FROM {name} ORDER BY id")


def test_fixture_import_counts_and_idempotence(store):
    first = import_prefect_api(store, FIXTURES)
    expected = {k: len(bodies(k)) for k in ("flows", "deployments", "flow_runs", "task_runs")}
    assert first.inserted["flow"] == expected["flows"]
    assert first.inserted["deployment"] == expected["deployments"]
    assert first.inserted["flow_run"] == expected["flow_runs"]
    assert first.inserted["task_run"] == expected["task_runs"]
    assert first.inserted["work_queue"] == len({q["id"] for q in bodies("work_queues")})
    before = {t: table(store, t) for t in TABLES}
    second = import_prefect_api(store, FIXTURES)
    assert sum(second.inserted.values()) == 0
    assert second.unchanged["flow_run"] == expected["flow_runs"] and sum(second.updated.values()) == 0
    for t in TABLES:
        assert table(store, t).equals(before[t]), t
    assert store.check_integrity().height == 0


def test_deployment_queue_resolved_by_pool_and_name(store):
    import_prefect_api(store, FIXTURES)
    pools = {p["id"]: p["name"] for p in bodies("work_pools")}
    queue_of = {(pools[q["work_pool_id"]], q["name"]): q["id"] for q in bodies("work_queues")}
    got = dict(
        store.sql(
            "SELECT CAST(id AS VARCHAR) AS id, CAST(work_queue_id AS VARCHAR) AS q FROM deployment"
        ).iter_rows()
    )
    for d in bodies("deployments"):
        assert got[d["id"]] == queue_of[(d["work_pool_name"], d["work_queue_name"])]
    # queue names repeat across pools and stay distinct rows
    names = store.sql("SELECT name, count(*) AS n FROM work_queue GROUP BY name")
    assert dict(names.iter_rows())["default"] == 3


def test_fields_kept(store):
    import_prefect_api(store, FIXTURES)
    dep = bodies("deployments")[0]
    got = dk.models.deployments.read_deployment(store, dep["id"])
    assert got.schedule.model_dump(exclude_none=True, mode="json").keys() == dep["schedule"].keys()
    assert got.schedule.timezone == dep["schedule"]["timezone"]
    assert got.created == datetime.fromisoformat(dep["created"])
    assert got.updated == datetime.fromisoformat(dep["updated"])
    assert got.tags == dep["tags"] and got.parameters == dep["parameters"]
    legacy = [q for q in bodies("work_queues") if q["filter"]]
    stored = {q.id: q for q in dk.to_models(store.sql("FROM work_queue"), dk.WorkQueue)}
    for q in legacy:
        assert stored[UUID(q["id"])].filter.tags == q["filter"]["tags"]
    run = next(r for r in bodies("flow_runs") if r["state"]["message"])
    got_run = dk.models.flow_runs.read_flow_run(store, run["id"])
    assert got_run.state_message == run["state"]["message"]
    assert got_run.state_timestamp == datetime.fromisoformat(run["state"]["timestamp"])
    scheduled = run["state"]["state_details"]["scheduled_time"]
    if scheduled:
        assert got_run.scheduled_time == datetime.fromisoformat(scheduled)
    pools = {p.name: p for p in dk.to_models(store.sql("FROM work_pool"), dk.WorkPool)}
    for p in bodies("work_pools"):
        assert str(pools[p["name"]].default_queue_id) == p["default_queue_id"]


def test_sample_data_shape(store):
    report = import_prefect_api(store, SAMPLE)
    assert report.inserted["deployment"] == len(bodies("deployments", SAMPLE))
    assert report.inserted["task_run"] == len(bodies("task_runs", SAMPLE))
    runners = store.sql("SELECT count(*) AS n FROM deployment WHERE flow_runner IS NOT NULL")
    assert runners["n"][0] == sum(1 for d in bodies("deployments", SAMPLE) if d["flow_runner"])


def test_single_file_kind_from_content(store, tmp_path):
    (tmp_path / "some.json").write_text(json.dumps(bodies("flows")))
    assert import_prefect_api(store, tmp_path / "some.json").inserted == {"flow": len(bodies("flows"))}


def test_db_import_equals_api_import(store):
    import_prefect_api(store, FIXTURES)
    with dk.Store() as other:
        report = import_prefect_db(other, FIXTURES / "prefect.db", progress=False)
        assert report.inserted["flow_run"] == len(bodies("flow_runs"))
        for t in TABLES:
            assert _comparable(table(other, t), t).equals(_comparable(table(store, t), t)), t


ROUTE_DIFFERENCES = {"extra", "estimated_run_time", "estimated_start_time_delta"}
"""What README's "Databases vs bodies" lists: ``extra`` is filled from bodies only, estimates are
computed by Prefect per request (bodies) or as of the database's last run change."""


def _number(text: str) -> float | int:
    """``0.0`` and ``0`` as one value: Prefect's database and its bodies spell numbers apart."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _canonical_json(text: str) -> str:
    return json.dumps(json.loads(text, parse_float=_number), sort_keys=True)


def _comparable(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """A table without the documented route differences; JSON compared as values, not text,
    and a deployment's queue name only where Prefect's database keeps one (pool deployments:
    null in the database, the queue's name in bodies)."""
    frame = frame.drop([c for c in ROUTE_DIFFERENCES if c in frame.columns])
    if "empirical_policy" in frame.columns:
        frame = frame.with_columns(
            pl.col("empirical_policy").map_elements(
                lambda t: json.dumps(json.loads(t, parse_float=_number), sort_keys=True) if t else t,
                return_dtype=pl.String,
            )
        )
    if name == "deployment":
        frame = frame.drop("work_queue_name")
    return frame


def test_db_import_in_small_chunks(store):
    report = import_prefect_db(store, FIXTURES / "prefect.db", chunk_rows=7, progress=False)
    assert report.inserted["flow_run"] == len(bodies("flow_runs"))
    assert store.check_integrity().height == 0


def _normalise(value):
    """Timestamps compared as instants; everything else as is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


MODELLED = {
    "flows": set(dk.Flow.model_fields),
    "work_pools": set(dk.WorkPool.model_fields),
    "work_queues": set(dk.WorkQueue.model_fields),
    "deployments": set(dk.Deployment.model_fields) | {"work_pool_name"},
    "flow_runs": set(dk.FlowRun.model_fields) | {"work_pool_name"},
    "task_runs": set(dk.TaskRun.model_fields),
}
STATE_FIELDS = ("type", "name", "timestamp", "message")


def test_full_round_trip_db_parquet_api(store, tmp_path):
    import_prefect_db(store, FIXTURES / "prefect.db", progress=False)
    export_parquet(store, tmp_path / "pq")
    with dk.Store() as middle:
        import_parquet(middle, tmp_path / "pq", progress=False)
        for t in TABLES:
            assert table(middle, t).equals(table(store, t)), t
        export_prefect_api(middle, tmp_path / "api")
    files = sorted(p.name for p in FIXTURES.glob("api-*.json"))
    assert files == sorted(p.name for p in (tmp_path / "api").glob("api-*.json"))
    for name in files:
        kind = name.removeprefix("api-").removesuffix(".json")
        original = {b["id"]: b for b in json.loads((FIXTURES / name).read_text())}
        exported = {b["id"]: b for b in json.loads((tmp_path / "api" / name).read_text())}
        assert exported.keys() == original.keys(), name
        fields = MODELLED.get(kind, MODELLED["work_queues"]) - ROUTE_DIFFERENCES
        for row_id, body in original.items():
            mine = exported[row_id]
            for field in fields & body.keys():
                assert _normalise(mine[field]) == _normalise(body[field]), (name, row_id, field)
            if "state" in body:
                for field in STATE_FIELDS:
                    assert _normalise(mine["state"][field]) == _normalise(body["state"][field])
                theirs = body["state"]["state_details"]["scheduled_time"]
                ours = mine["state"]["state_details"]["scheduled_time"]
                if kind == "flow_runs":
                    assert _normalise(ours) == _normalise(theirs), (row_id, "scheduled_time")


@pytest.mark.parametrize("chunk_rows", [1000, 100_000])
def test_parquet_round_trip_is_lossless(store, tmp_path, chunk_rows):
    import_prefect_api(store, SAMPLE)
    written = export_parquet(store, tmp_path)
    assert written["flow_run"] == len(bodies("flow_runs", SAMPLE))
    with dk.Store() as copy:
        import_parquet(copy, tmp_path, chunk_rows=chunk_rows, progress=False)
        for t in TABLES:
            assert table(copy, t).equals(table(store, t)), t
        again = import_parquet(copy, tmp_path, progress=False)
        assert sum(again.inserted.values()) == 0


def test_reimport_of_edited_rows_equals_a_fresh_import(store, tmp_path):
    # Half the rows change: lists, unique keys and plain columns; the rest stay as they were.
    import_prefect_api(store, SAMPLE)
    rows = export_parquet(store, tmp_path)
    half = pl.int_range(pl.len()) % 2 == 0
    edits = {
        "flow": {"tags": pl.col("tags").list.concat(pl.lit(["edited"]))},
        "work_queue": {"description": pl.lit("edited")},
        "deployment": {"name": pl.col("name") + "-v2", "tags": pl.lit(["edited"]), "version": pl.lit("2")},
        "flow_run": {
            "tags": pl.col("tags").list.concat(pl.lit(["edited"])),
            "idempotency_key": pl.col("idempotency_key") + "-v2",
            "state_name": pl.lit("Edited"),
        },
        "task_run": {"dynamic_key": pl.col("dynamic_key") + "-v2", "tags": pl.lit(["edited"])},
    }
    for name, changes in edits.items():
        path = tmp_path / f"{name}.parquet"
        frame = pl.read_parquet(path)
        edited = frame.with_columns(
            pl.when(half).then(expr).otherwise(col).alias(col) for col, expr in changes.items()
        )
        assert not edited.equals(frame), name
        edited.write_parquet(path)
    write_manifest(tmp_path, rows)
    report = import_parquet(store, tmp_path, progress=False)
    assert sum(report.inserted.values()) == 0
    for t, n in rows.items():  # the edited half is updated, the other half reported unchanged
        assert report.updated.get(t, 0) == ((n + 1) // 2 if t in edits else 0), t
        assert report.updated.get(t, 0) + report.unchanged.get(t, 0) == n, t
    with dk.Store() as fresh:
        import_parquet(fresh, tmp_path, progress=False)
        for t in TABLES:
            assert table(store, t).equals(table(fresh, t)), t
