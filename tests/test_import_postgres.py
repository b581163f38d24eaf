"""Prefect servers on PostgreSQL (2.20, 3.x): imported from a real throwaway cluster (issue 12).

The session fixture ``postgres_urls`` (conftest.py) starts one cluster and restores
the dumps the fixture script took from real Prefect servers; each release's
``postgres/`` folder holds that run's own REST bodies to compare with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_unchanged, snapshot
from test_import_releases import check_preview, check_store_equals_bodies

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


@pytest.mark.parametrize("release", list(PG_RELEASES))
def test_postgres_preview_equals_the_release_own_schedule_classes(store, postgres_urls, release):
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
