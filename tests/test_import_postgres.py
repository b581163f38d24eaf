"""Prefect servers on PostgreSQL (2.20, 3.x): imported from a real throwaway cluster (issue 12).

The session fixture ``postgres_urls`` (conftest.py) starts one cluster and restores
the dumps the fixture script took from real Prefect servers; each release's
``postgres/`` folder holds that run's own REST bodies to compare with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_unchanged, snapshot
from test_import_releases import check_preview, check_store_equals_bodies, preview_case

import deploykit as dk
from deploykit.io import SourceError, import_prefect_api, import_prefect_db
from deploykit.io._postgres import redact

FIXTURES = Path(__file__).parent / "fixtures"
PG_RELEASES = {"2.20": "prefect-2.20", "3.x": "prefect-3.x"}


@pytest.mark.parametrize("release", list(PG_RELEASES))
def test_postgres_database_of_each_release(store, postgres_urls, release):
    folder = FIXTURES / PG_RELEASES[release] / "postgres"
    report = import_prefect_db(store, postgres_urls[release], progress=False, chunk_rows=7)
    assert report.inserted["flow_run"] == len(list(store.sql("SELECT id FROM flow_run")["id"]))
    check_store_equals_bodies(store, folder)
    assert store.check_integrity().height == 0
    again = import_prefect_db(store, postgres_urls[release], progress=False)
    assert sum(again.inserted.values()) == 0
    check_store_equals_bodies(store, folder)


@pytest.mark.parametrize("release", list(PG_RELEASES))
def test_postgres_run_bodies_import_too(store, release):
    folder = FIXTURES / PG_RELEASES[release] / "postgres"
    import_prefect_api(store, folder)
    check_store_equals_bodies(store, folder)


@pytest.mark.parametrize(("release", "route"), [c for r in PG_RELEASES for c in preview_case(r, "postgres")])
def test_postgres_preview_equals_the_release_own_schedule_classes(store, postgres_urls, release, route):
    import_prefect_db(store, postgres_urls[release], progress=False)
    check_preview(store, FIXTURES / PG_RELEASES[release] / "postgres" / "expected-preview.json")


def _refused(store: dk.Store, url: str, *words: str) -> str:
    before = snapshot(store)
    with pytest.raises(SourceError) as info:
        import_prefect_db(store, url, progress=False)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert_unchanged(before, store)
    return message


def test_wrong_password_says_authentication_without_the_password(store, postgres_urls):
    url = postgres_urls["3.x"]
    bad = url.replace(":deploykit@", ":Sup3r-Secret@")
    message = _refused(store, bad, "authentication failed", "deploykit", "prefect_3_x")
    assert "Sup3r-Secret" not in message


def test_missing_database_is_named(store, postgres_urls):
    url = postgres_urls["3.x"].rsplit("/", 1)[0] + "/no_such_db"
    message = _refused(store, url, "no_such_db", "does not exist")
    assert "deploykit:deploykit" not in message


def test_unreachable_host_says_so(store):
    message = _refused(store, "postgresql://me:hunter2@127.0.0.1:1/prefect", "127.0.0.1:1", "refused")
    assert "hunter2" not in message


def test_unknown_revision_on_postgres(store, postgres_urls):
    import psycopg

    url = postgres_urls["2.20"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE prefect_future TEMPLATE prefect_2_20")
    future = url.rsplit("/", 1)[0] + "/prefect_future"
    with psycopg.connect(future, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'abcdefabcdef'")
    _refused(store, future, "abcdefabcdef", "postgresql", "2.10", "3.x")


def test_redact():
    assert redact("postgresql+asyncpg://u:p%40ss@h:5432/db") == "postgresql+asyncpg://u:***@h:5432/db"


def test_cli_imports_a_postgres_url(postgres_urls, tmp_path, capsys):
    from deploykit.cli import main

    path = str(tmp_path / "s.duckdb")
    assert main(["import", postgres_urls["3.x"], "--store", path]) == 0
    out = capsys.readouterr().out
    assert "deploykit:deploykit" not in out
    with dk.Store(path) as store:
        assert store.sql("SELECT count(*) AS n FROM deployment_schedule")["n"][0] == 24


def _copy_of(postgres_urls: dict[str, str], name: str) -> str:
    """A new database holding the 3.x dump, for a test that changes it."""
    import psycopg

    url = postgres_urls["3.x"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE prefect_3_x")
    return url.rsplit("/", 1)[0] + f"/{name}"


def test_copy_frames_stream_typed_chunks_and_keep_null_apart_from_empty(postgres_urls):
    import polars as pl
    import psycopg

    from deploykit.io._pg_copy import copy_frames

    query = (
        "SELECT g AS n, g / 4.0 :: float8 AS x, g % 2 = 0 AS even, "
        "CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE E'a,\"b\"\\n c ü' END AS s, "
        "TIMESTAMPTZ '2026-03-29 01:00:00.000001+00' + g * INTERVAL '1 hour' AS t "
        "FROM generate_series(1, 10) g"
    )
    with psycopg.connect(postgres_urls["3.x"]) as conn:
        frames = list(copy_frames(conn, query, 4))
        assert list(copy_frames(conn, "SELECT 1 AS n WHERE false", 4)) == []
    assert [f.height for f in frames] == [4, 4, 2]
    got = pl.concat(frames)
    assert got.schema == {
        "n": pl.Int64,
        "x": pl.Float64,
        "even": pl.Boolean,
        "s": pl.String,
        "t": pl.Datetime("us", "UTC"),
    }
    assert got["n"].to_list() == list(range(1, 11))
    assert got["x"].to_list() == [g / 4 for g in range(1, 11)]
    assert got["s"].to_list()[:3] == ["", 'a,"b"\n c ü', None]
    assert got["t"][0].isoformat() == "2026-03-29T02:00:00.000001+00:00"


def test_text_json_and_times_arrive_as_postgresql_holds_them(store, postgres_urls):
    import json

    import psycopg

    url = _copy_of(postgres_urls, "prefect_texts")
    message = 'line one\nline "two", 3\\4; ü'
    parameters = {"q": 'a,b\n"c"', "empty": "", "nothing": None}
    with psycopg.connect(url, autocommit=True) as conn:
        runs = [
            r[0]
            for r in conn.execute(
                "SELECT id::text FROM flow_run WHERE state_id IS NOT NULL ORDER BY id LIMIT 3"
            )
        ]
        for run, text in zip(runs, (message, "", None), strict=True):
            conn.execute(
                "UPDATE flow_run_state SET message = %s "
                "WHERE id = (SELECT state_id FROM flow_run WHERE id = %s)",
                (text, run),
            )
        conn.execute(
            "UPDATE flow_run SET parameters = %s, start_time = '2026-05-01 10:00:00.000001+02' WHERE id = %s",
            (json.dumps(parameters), runs[0]),
        )
    import_prefect_db(store, url, progress=False, chunk_rows=2)
    rows = store.sql(
        "SELECT CAST(id AS VARCHAR) AS id, state_message, parameters, start_time FROM flow_run "
        f"WHERE CAST(id AS VARCHAR) IN ({', '.join(repr(r) for r in runs)})"
    )
    by_id = {row["id"]: row for row in rows.iter_rows(named=True)}
    assert [by_id[r]["state_message"] for r in runs] == [message, "", None]
    assert json.loads(by_id[runs[0]]["parameters"]) == parameters
    assert by_id[runs[0]]["start_time"].isoformat() == "2026-05-01T08:00:00.000001+00:00"


@pytest.mark.parametrize("stamp", ["infinity", "0044-03-15 12:00:00+00 BC"])
def test_a_time_the_store_cannot_hold_is_refused_not_lost(store, postgres_urls, stamp):
    """Read as text before, ``infinity`` became a null end time and a date BC one AD."""
    import psycopg

    url = _copy_of(postgres_urls, f"prefect_stamp_{len(stamp)}")
    with psycopg.connect(url, autocommit=True) as conn:
        run = conn.execute(
            "SELECT id::text FROM flow_run WHERE end_time IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()[0]
        conn.execute("UPDATE flow_run SET end_time = %s WHERE id = %s", (stamp, run))
    _refused(store, url, run, "end_time")
