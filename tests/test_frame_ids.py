"""Issue 13 (frames): ids are strings in frames and UUIDs in models; comparing them is documented."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flows
from deploykit.store import TABLES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_id_column_of_every_table_is_a_string_and_compares_with_str(store):
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    dep = D.create_deployment(store, dk.Deployment(name="a", flow_id=flow.id))
    assert isinstance(dep.id, UUID)
    for table in TABLES:
        schema = store.table(table).collect_schema()
        ids = [c for c in schema.names() if c == "id" or (c.endswith("_id") and c != "deployment_id_match")]
        assert all(schema[c] == pl.String for c in ids), (table, {c: schema[c] for c in ids})
    found = store.table("deployment").filter(pl.col("id") == str(dep.id)).collect()
    assert found["name"].to_list() == ["a"]
    by_filter = store.table("deployment").filter(dk.DeploymentFilter(id={"any_": [dep.id]}).as_expr())
    assert by_filter.collect()["name"].to_list() == ["a"]
    assert dk.to_models(found, dk.Deployment)[0].id == dep.id
    with pytest.raises(TypeError, match="UUID"):
        pl.col("id") == dep.id  # noqa: B015 - Polars' own error, which the README explains


def test_readme_use_section_says_how_to_compare_ids():
    use = re.search(r"## Use\n(.*?)\n## ", README.read_text(), re.S).group(1)
    assert 'pl.col("id") == str(' in use and "cannot create expression literal" in use
