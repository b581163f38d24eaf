"""Re-importing unchanged data reports "unchanged", not "updated" (issue 12), on every route."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import deploykit as dk
from deploykit.io import (
    ImportReport,
    export_parquet,
    import_parquet,
    import_prefect_api,
    import_prefect_db,
    sync_prefect,
)

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = ("prefect-2.10", "prefect-2.14", "prefect-2.20", "prefect-3.x")


def _parquet(store: dk.Store, folder: Path, tmp_path: Path) -> Callable[[], ImportReport]:
    """Import of a Parquet export of ``folder``'s bodies (made once, read by each call)."""
    out = tmp_path / "parquet"
    with dk.Store() as source:
        import_prefect_api(source, folder)
        export_parquet(source, out)
    return lambda: import_parquet(store, out, progress=False)


def _prefect_db(store: dk.Store, folder: Path, tmp_path: Path) -> Callable[[], ImportReport]:
    """Import of a copy of the release's ``prefect.db``."""
    db = tmp_path / "prefect.db"
    shutil.copy(folder / "prefect.db", db)
    return lambda: import_prefect_db(store, db, progress=False)


def _sync(store: dk.Store, folder: Path, tmp_path: Path) -> Callable[[], ImportReport]:
    """A full sync (``full=True``: every row is read again) from a copy of ``prefect.db``."""
    db = tmp_path / "prefect.db"
    shutil.copy(folder / "prefect.db", db)
    return lambda: sync_prefect(store, db, full=True, progress=False)


ROUTES: dict[str, Callable[[dk.Store, Path, Path], Callable[[], ImportReport]]] = {
    "import_prefect_api": lambda store, folder, tmp_path: lambda: import_prefect_api(store, folder),
    "import_prefect_db": _prefect_db,
    "import_parquet": _parquet,
    "sync_prefect": _sync,
}
"""Each route, as ``(store, fixture folder, tmp_path) -> import once``."""


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("route", ROUTES)
def test_second_import_of_the_same_data_reports_every_row_unchanged(store, tmp_path, route, release):
    """Issue 12: importing the same data again inserts, updates and deletes nothing: every row the
    first import inserted is reported unchanged, in every table."""
    load = ROUTES[route](store, FIXTURES / release, tmp_path)
    first = load().counts()
    second = load().counts()
    assert set(second) == set(first) and first, (first, second)
    for table, counts in second.items():
        rows = first[table]["inserted"]
        expected = {"inserted": 0, "updated": 0, "unchanged": rows, "deleted": 0}
        assert counts == expected, (route, table, counts)
