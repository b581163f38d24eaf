"""Shared fixtures: a fresh in-memory store and small helpers to populate it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import flows


@pytest.fixture
def store() -> Iterator[dk.Store]:
    with dk.Store() as s:
        yield s


@pytest.fixture(scope="module")
def sample_store() -> Iterator[dk.Store]:
    """A store with the sample fleet in ``data/`` imported (shared by a module's tests: read only)."""
    from deploykit.io import import_prefect_api

    with dk.Store() as s:
        import_prefect_api(s, Path(__file__).parents[1] / "data")
        yield s


@pytest.fixture
def flow(store: dk.Store) -> dk.Flow:
    return flows.create_flow(store, dk.Flow(name="my-flow"))


def snapshot(store: dk.Store) -> dict[str, pl.DataFrame]:
    """Every table's full content, sorted, to prove an operation left no trace."""
    from deploykit.store import TABLES

    return {t: store.sql(f"SELECT * FROM {t} ORDER BY id") for t in TABLES}


def assert_unchanged(before: dict[str, pl.DataFrame], store: dk.Store) -> None:
    after = snapshot(store)
    for table, frame in before.items():
        assert frame.equals(after[table]), f"table {table} changed"


# --- a real PostgreSQL for the importer tests (issue 12) ------------------------------------

PG_DUMPS = {"2.20": "prefect-2.20", "3.x": "prefect-3.x"}
"""The releases whose fixtures carry a ``prefect.pg.sql.gz`` made by a Prefect server on PostgreSQL."""


def start_postgres() -> Any:
    """A throwaway PostgreSQL cluster (``scripts/pg_cluster.py``), started as a non-root user.

    Without PostgreSQL binaries the test is skipped when run by hand, but FAILS where the
    component is required: in CI (``CI=true``) and under ``python3 scripts/dev.py test``
    (``DEPLOYKIT_REQUIRE_POSTGRES=1``, set after it installs PostgreSQL), so neither ever
    passes by skipping.
    """
    root = Path(__file__).parents[1]
    sys.path.insert(0, str(root / "scripts"))
    try:
        from pg_cluster import PgCluster, PgClusterError
    finally:
        sys.path.pop(0)
    try:
        return PgCluster("postgres").start()
    except PgClusterError as exc:
        if os.environ.get("CI", "").lower() == "true" or os.environ.get("DEPLOYKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"no PostgreSQL here ({exc}); run scripts/install_postgres.sh")


@pytest.fixture(scope="session")
def postgres_urls() -> Iterator[dict[str, str]]:
    """One throwaway PostgreSQL cluster with each release's dump restored: ``{release: url}``."""
    root = Path(__file__).parents[1]
    cluster = start_postgres()
    try:
        yield {
            release: cluster.restore(
                root / "tests" / "fixtures" / folder / "prefect.pg.sql.gz",
                f"prefect_{folder[8:].replace('.', '_')}",
            )
            for release, folder in PG_DUMPS.items()
        }
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_cluster():
    """A throwaway PostgreSQL cluster of the module's own (its tests change the databases)."""
    cluster = start_postgres()
    try:
        yield cluster
    finally:
        cluster.stop()
