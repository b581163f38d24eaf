"""Issue 15 item 7, import leftovers: damaged or hostile source files give a
``SourceError`` that names the file (and the entry or table at fault); the store stays
as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests_support import altered_prefect_db, refused

import deploykit as dk
from deploykit.io import export_parquet, import_parquet, import_prefect_api, import_prefect_db

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
FLOWS = FIXTURES / "api-flows.json"


# --- Prefect API body files ---------------------------------------------------------------


def test_utf16_body_file_names_the_file(store, tmp_path):
    path = tmp_path / "api-flows.json"
    path.write_text(FLOWS.read_text(encoding="utf-8"), encoding="utf-16")
    refused(store, lambda: import_prefect_api(store, path), "api-flows.json", "UTF-8")


def test_undecodable_bytes_name_the_file(store, tmp_path):
    path = tmp_path / "api-flows.json"
    path.write_bytes(b'[{"id": "\xed\xa0\x80"}]')  # a surrogate encoded as UTF-8: not valid UTF-8
    refused(store, lambda: import_prefect_api(store, path), "api-flows.json", "UTF-8")


def test_lone_surrogate_escape_names_the_file_and_field(store, tmp_path):
    rows = json.loads(FLOWS.read_text())
    text = json.dumps(rows).replace(json.dumps(rows[0]["name"]), '"bad\\ud800name"', 1)
    path = tmp_path / "api-flows.json"
    path.write_text(text)
    refused(store, lambda: import_prefect_api(store, path), "api-flows.json", "surrogate")


def test_a_directory_named_like_a_body_file(store, tmp_path):
    folder = tmp_path / "in"
    (folder / "api-flows.json").mkdir(parents=True)
    refused(store, lambda: import_prefect_api(store, folder), "api-flows.json")


# --- Parquet exports ----------------------------------------------------------------------


@pytest.fixture
def export(tmp_path) -> Path:
    with dk.Store() as source:
        dk.models.flows.create_flow(source, dk.Flow(name="exported"))
        out = tmp_path / "export"
        export_parquet(source, out)
    return out


def _manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_truncated_parquet_names_the_file(store, export):
    path = export / "flow.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(store, lambda: import_parquet(store, export), "flow.parquet")


def test_parquet_file_of_garbage_names_the_file(store, export):
    (export / "flow.parquet").write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    refused(store, lambda: import_parquet(store, export), "flow.parquet")


def test_manifest_absolute_path_outside_the_export_is_refused(store, export, tmp_path):
    outside = tmp_path / "elsewhere.parquet"
    shutil.copy(export / "flow.parquet", outside)
    _manifest(export, lambda m: m["tables"]["flow"].update(file=str(outside)))
    refused(store, lambda: import_parquet(store, export), "manifest.json", "flow", "outside")


def test_manifest_relative_path_escaping_the_export_is_refused(store, export, tmp_path):
    shutil.copy(export / "flow.parquet", tmp_path / "escaped.parquet")
    _manifest(export, lambda m: m["tables"]["flow"].update(file="../escaped.parquet"))
    refused(store, lambda: import_parquet(store, export), "manifest.json", "flow", "outside")


def test_manifest_entry_without_file(store, export):
    _manifest(export, lambda m: m["tables"]["flow"].pop("file"))
    refused(store, lambda: import_parquet(store, export), "manifest.json", "flow", '"file"')


@pytest.mark.parametrize("entry", [None, "flow.parquet", 3, {"file": 3}, {"file": ""}, {"file": "\x00"}])
def test_manifest_entries_of_the_wrong_shape(store, export, entry):
    _manifest(export, lambda m: m["tables"].update(flow=entry))
    refused(store, lambda: import_parquet(store, export), "manifest.json", "flow")


@pytest.mark.parametrize("tables", [None, [], "flow", 3])
def test_manifest_tables_of_the_wrong_shape(store, export, tables):
    _manifest(export, lambda m: m.update(tables=tables))
    refused(store, lambda: import_parquet(store, export), "manifest.json", "tables")


def test_utf16_manifest_names_the_file(store, export):
    path = export / "manifest.json"
    path.write_text(path.read_text(), encoding="utf-16")
    refused(store, lambda: import_parquet(store, export), "manifest.json", "UTF-8")


def test_manifest_is_a_directory(store, tmp_path):
    (tmp_path / "x" / "manifest.json").mkdir(parents=True)
    refused(store, lambda: import_parquet(store, tmp_path / "x"), "manifest.json")


# --- Prefect databases ------------------------------------------------------------------


@pytest.mark.parametrize("table", ["work_queue", "flow_run", "task_run", "flow_run_state", "work_pool"])
def test_known_revision_but_missing_table_names_it(store, tmp_path, table):
    path = altered_prefect_db(tmp_path, f"DROP TABLE {table}")
    error = refused(store, lambda: import_prefect_db(store, path), "prefect.db", table)
    assert "missing" in str(error)


def test_known_revision_but_missing_column_names_it(store, tmp_path):
    path = altered_prefect_db(tmp_path, "ALTER TABLE task_run RENAME COLUMN dynamic_key TO renamed")
    refused(store, lambda: import_prefect_db(store, path), "prefect.db", "task_run", "dynamic_key")
