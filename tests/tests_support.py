"""Assertions and helpers shared by test modules."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import assert_unchanged, snapshot

import deploykit as dk
from deploykit.io import SourceError
from deploykit.models import deployments


def assert_unchanged_after(
    store: dk.Store, call: Callable[[], object], error: type[BaseException], match: str
) -> None:
    """``call`` raises ``error`` (message matching ``match``) and leaves every table as it was."""
    before = snapshot(store)
    with pytest.raises(error, match=match):
        call()
    assert_unchanged(before, store)


FIXTURES_2_10 = Path(__file__).parent / "fixtures" / "prefect-2.10"
"""The Prefect 2.10 bodies and ``prefect.db`` the command-line and error tests read."""


def cli_store(path: Path) -> str:
    """A store file at ``path`` holding the 2.10 fixtures, imported with ``deploykit import``."""
    from deploykit.cli import main

    assert main(["import", str(FIXTURES_2_10), "--store", str(path)]) == 0
    return str(path)


def altered_prefect_db(folder: Path, sql: str) -> Path:
    """A copy of the 2.10 fixtures' ``prefect.db`` in ``folder``, changed by the statement ``sql``."""
    path = folder / "prefect.db"
    shutil.copy(FIXTURES_2_10 / "prefect.db", path)
    with sqlite3.connect(path) as conn:
        conn.execute(sql)
    conn.close()
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the ``deploykit`` command with ``argv``: its exit code, stdout and stderr."""
    from deploykit.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@contextmanager
def imported_store(folder: Path) -> Iterator[dk.Store]:
    """An in-memory store holding the Prefect REST bodies of ``folder``; closed on exit."""
    from deploykit.io import import_prefect_api

    with dk.Store() as store:
        import_prefect_api(store, folder)
        yield store


def refused(store: dk.Store, call: Callable[[], object], *words: str) -> SourceError:
    """``call`` raises a :class:`SourceError` whose message holds every one of ``words``, and
    leaves every table as it was; the error, for further checks."""
    before = snapshot(store)
    with pytest.raises(SourceError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert_unchanged(before, store)
    return info.value


def new_deployment(store: dk.Store, flow: dk.Flow, name: str, **fields: Any) -> dk.Deployment:
    """Create (upsert) the deployment ``name`` of ``flow`` with ``fields``, as stored.

    ``deployments.create_deployment(store, dk.Deployment(name=..., flow_id=flow.id, ...))``
    in one call: what most tests need before what they check.
    """
    return deployments.create_deployment(store, dk.Deployment(name=name, flow_id=flow.id, **fields))


def catalog(path: Path) -> dict[str, list[tuple]]:
    """Tables, columns, constraints and indexes of a store file, as DuckDB lists them (sorted).

    Equal catalogs prove a migrated file has exactly the schema of a new store.
    """
    con = duckdb.connect(str(path), read_only=True)
    try:
        queries = {
            "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM duckdb_columns() WHERE NOT internal",
            "constraints": "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints()",
            "indexes": "SELECT table_name, index_name, is_unique, sql FROM duckdb_indexes()",
        }
        return {name: sorted(con.execute(query).fetchall()) for name, query in queries.items()}
    finally:
        con.close()


def _extreme_schedules() -> tuple[dict[str, Any], dict[str, Any]]:
    """Schedules at the limits of ``deploykit.calendar`` (issue 15 items 1-2).

    ``refused``: rules that cannot fire, need too many candidates, or values outside the
    ranges; validation must refuse each, naming it. ``accepted``: valid but sparse or
    extreme schedules at the edges of the ranges; every computation on them must finish.
    """
    from deploykit.calendar import MAX_INTERVAL, MAX_YEAR, MIN_YEAR

    seconds = ",".join(str(i) for i in range(60))
    most = MAX_INTERVAL.total_seconds()
    refused = {
        "exrule_minutely": {"rrule": "RRULE:FREQ=MINUTELY\nEXRULE:FREQ=MINUTELY"},
        "exrule_daily": {"rrule": "RRULE:FREQ=DAILY\nEXRULE:FREQ=DAILY"},
        "count_huge": {"rrule": "FREQ=SECONDLY;COUNT=1000000000"},
        "never_feb_30": {"rrule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"},
        "never_feb_31_by_7": {"rrule": "FREQ=MINUTELY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=31"},
        "rrule_interval_huge": {"rrule": "FREQ=DAILY;INTERVAL=1000000000"},
        "interval_huge": {"interval": 999_999_999 * 86400, "anchor_date": "2024-01-01T00:00:00+00:00"},
        "interval_over_max": {"interval": most + 1, "anchor_date": "2024-01-01T00:00:00+00:00"},
        "anchor_year_one_west": {
            "interval": 3600,
            "anchor_date": "0001-01-01T00:00:00",
            "timezone": "America/Los_Angeles",
        },
        "anchor_below_min": {"interval": 3600, "anchor_date": f"{MIN_YEAR - 1}-12-31T00:00:00+00:00"},
        "anchor_above_max": {"interval": 3600, "anchor_date": f"{MAX_YEAR + 1}-01-01T00:00:00+00:00"},
        "dtstart_above_max": {"rrule": f"DTSTART:{MAX_YEAR + 1}0101T000000\nFREQ=DAILY"},
    }
    accepted = {
        "leap_day": {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"},
        "leap_day_by_7_minutes": {"rrule": "FREQ=MINUTELY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29"},
        "dtstart_at_max": {"rrule": f"DTSTART:{MAX_YEAR}1231T235959\nFREQ=YEARLY"},
        "dtstart_at_min_sparse": {"rrule": f"DTSTART:{MIN_YEAR}0101T000000\nFREQ=DAILY;INTERVAL=36600"},
        "every_second_monthly": {"rrule": f"FREQ=MONTHLY;BYMONTHDAY=1;BYMINUTE={seconds};BYSECOND={seconds}"},
        "interval_max": {"interval": most, "anchor_date": f"{MIN_YEAR}-01-01T00:00:00+00:00"},
        "anchor_at_max": {"interval": 3600, "anchor_date": f"{MAX_YEAR}-12-31T23:00:00+00:00"},
        "anchor_at_min_west": {
            "interval": 3600,
            "anchor_date": f"{MIN_YEAR}-01-01T00:00:00",
            "timezone": "America/Los_Angeles",
        },
        "cron_leap_day": {"cron": "0 0 29 2 *"},
    }
    return refused, accepted


REFUSED_SCHEDULES, EXTREME_SCHEDULES = _extreme_schedules()
