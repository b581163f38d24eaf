"""The writer's place and the models' names (issue 11): one staged writer that io reaches
through a public module, consistent window names, no SQL fragments in the public API."""

from __future__ import annotations

import ast
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flows

PACKAGE = Path(dk.__file__).parent
START = datetime(2023, 1, 1, tzinfo=UTC)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_io_reaches_models_only_through_public_modules():
    for path in (PACKAGE / "io").glob("*.py"):
        private = {m for m in _imports(path) if m.startswith("deploykit.models._")}
        assert not private, (path.name, private)


def test_one_module_named_bulk_at_most():
    assert len(list(PACKAGE.rglob("_bulk.py"))) <= 1


def test_every_write_path_uses_the_one_writer():
    for name in (
        "flows",
        "flow_runs",
        "task_runs",
        "work_pools",
        "work_queues",
        "deployments",
        "_deployment_bulk",
    ):
        source = (PACKAGE / "models" / f"{name}.py").read_text()
        assert "INSERT INTO" not in source, name
        assert "deploykit.models.writer" in source, name
    assert "deploykit.models.writer" in (PACKAGE / "io" / "_chunks.py").read_text()


def test_to_models_lives_in_schemas():
    from deploykit.schemas.frames import to_models

    assert dk.to_models is to_models
    assert not (PACKAGE / "_frames.py").exists()


def test_no_sql_fragment_is_public():
    assert not hasattr(D, "SCHEDULE_TYPE_SQL")
    assert "SCHEDULE_TYPE_SQL" not in D.__all__


def test_deployment_overview_has_what_views_show(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    D.create_deployment(store, dk.Deployment(name="b", flow_id=flow.id, schedule={"interval": 60}))
    D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id, work_queue_name="q", tags=["x"]))
    overview = D.read_deployment_overview(store)
    assert overview.columns == [
        "id",
        "name",
        "flow_name",
        "tags",
        "work_queue_name",
        "work_pool_name",
        "schedule_type",
        "is_schedule_active",
    ]
    assert overview.select("name", "flow_name", "work_pool_name", "schedule_type").rows() == [
        ("a", "etl", "default-agent-pool", None),
        ("b", "etl", None, "interval"),
    ]
    assert D.read_deployment_overview(store, deployment_filter={"tags": {"all_": ["x"]}})[
        "name"
    ].to_list() == ["a"]


def test_preview_and_schedule_all_name_their_window_alike(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    D.create_deployment(
        store, dk.Deployment(name="d", flow_id=flow.id, schedule={"interval": 60, "anchor_date": START})
    )
    window = {"start_time": START, "end_time": START + timedelta(hours=1), "max_runs": 5}
    assert D.preview_runs(store, **window).height == 5
    assert D.schedule_all(store, **window).height == 5
    with pytest.warns(DeprecationWarning, match="max_runs"):
        assert D.preview_runs(store, START, START + timedelta(hours=1), max_runs_per_deployment=2).height == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D.preview_runs(store, START, START + timedelta(hours=1))
    with pytest.raises(ValueError, match=r"end_time .* is before start_time"):
        D.preview_runs(store, START, START - timedelta(hours=1))
