"""The staged writer's shortcuts (issue 12's performance targets) keep its rules: a batch takes
the short way only when the long way would find nothing, and the next chunk of a source is
read in a thread without changing what the caller sees."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from uuid import uuid4

import polars as pl
import pytest

import deploykit as dk
from deploykit.io._chunks import prefetch
from deploykit.models.writer import Writer

STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def _flows(*rows: tuple[str, str, str]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["id", "name", "labels"], orient="row")
    return frame.with_columns(created=pl.lit(STAMP), updated=pl.lit(STAMP))


def test_the_same_id_twice_in_any_spelling_is_one_row():
    """An id written in capitals and in lower case is one id: identical rows are one row."""
    store = dk.Store()
    flow_id = str(uuid4())
    batch = _flows((flow_id, "etl", "{}"), (flow_id.upper(), "etl", "{}"))
    with store.transaction() as cur:
        assert Writer(cur).write("flow", batch, source="mine") == (1, 0)
    assert store.sql("SELECT count(*) AS n FROM flow")["n"][0] == 1


def test_json_values_checked_together_still_name_the_bad_one():
    """Many valid JSON objects and one list: the list is named, as when each is checked alone."""
    store = dk.Store()
    rows = [(str(uuid4()), f"f{i}", f'{{"n": {i}}}') for i in range(50)]
    bad = str(uuid4())
    rows.append((bad, "bad", "[1, 2]"))
    with (
        store.transaction() as cur,
        pytest.raises(ValueError, match=f"flow {bad}: labels '\\[1, 2\\]' is invalid"),
    ):
        Writer(cur).write("flow", _flows(*rows), source="mine")


def test_json_values_checked_together_keep_what_each_accepts():
    """Texts nested deeper than one list of them allows are checked one by one, and pass."""
    store = dk.Store()
    deep = '{"a": ' * 150 + "1" + "}" * 150
    rows = [(str(uuid4()), "a", '{"x": []}'), (str(uuid4()), "b", deep)]
    with store.transaction() as cur:
        assert Writer(cur).write("flow", _flows(*rows), source="mine") == (2, 0)


def test_a_write_into_a_table_holding_other_rows_inserts_and_updates():
    """The plain insert (no stored row matches) and the upsert (some do) count alike."""
    store = dk.Store()
    first = [(str(uuid4()), f"f{i}", "{}") for i in range(3)]
    with store.transaction() as cur:
        assert Writer(cur).write_changes("flow", _flows(*first), source="mine") == (3, 0, 0)
    second = [first[0], (first[1][0], "renamed", "{}"), (str(uuid4()), "new", "{}")]
    with store.transaction() as cur:
        assert Writer(cur).write_changes("flow", _flows(*second), source="mine") == (1, 1, 1)
    with store.transaction() as cur:
        assert Writer(cur).write_changes("flow", _flows(*second), source="mine") == (0, 0, 3)


def test_prefetch_gives_every_item_in_order():
    assert list(prefetch(iter(range(10)))) == list(range(10))
    assert list(prefetch([])) == []


def test_prefetch_raises_the_producers_error_after_its_items():
    def items():
        yield 1
        raise ValueError("broken source")

    got = []
    with pytest.raises(ValueError, match="broken source"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1]


def test_prefetch_closes_the_source_in_its_thread_when_the_caller_stops():
    closed = []
    made = []

    def items():
        try:
            for i in range(100):
                made.append(i)
                yield i
        finally:
            closed.append(threading.current_thread().name)

    for item in prefetch(items()):
        if item == 2:
            break
    assert closed == ["deploykit-prefetch"]
    assert len(made) <= 4  # the caller's item and at most the next were made ahead
