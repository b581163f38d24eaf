"""Shared fixtures: a fresh in-memory store and small helpers to populate it."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import flows


@pytest.fixture
def store() -> Iterator[dk.Store]:
    with dk.Store() as s:
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
