"""Predicates: LIKE wildcards, one Unicode case rule on both engines, Prefect 3's
deployment criteria, self-documenting filter schemas, and the package's layering."""

from __future__ import annotations

import ast
import pathlib
from uuid import UUID

import duckdb
import polars as pl
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

import deploykit as dk
import deploykit.filters
import deploykit.schemas
from deploykit.predicates import SqlCompiler
from deploykit.predicates._polars import fold, fold_text

PACKAGE = pathlib.Path(dk.__file__).parent


_DUCKDB = duckdb.connect()  # one connection: opening one costs more than a query here


def sql_ids(tables: dict[str, pl.DataFrame], alias_table: str, cond: exp.Expression, params: dict) -> list:
    """Ids of ``alias_table`` (aliased by its first letter) that ``cond`` selects, in DuckDB."""
    for name, frame in tables.items():
        _DUCKDB.register(name, frame)
    alias = alias_table[0]
    sql = f"SELECT {alias}.id FROM {alias_table} AS {alias} WHERE {cond.sql('duckdb')} ORDER BY 1"
    try:
        return [r[0] for r in _DUCKDB.execute(sql, params).fetchall()]
    finally:
        for name in tables:
            _DUCKDB.unregister(name)


def both_engines(frame: pl.DataFrame, f: dk.schemas.filters.PrefectFilterBaseModel) -> tuple[list, list]:
    """The ids one filter selects from ``frame`` through DuckDB and through Polars."""
    compiler = SqlCompiler()
    cond = compiler.compile(f.as_predicate(), "t")
    return sql_ids({"t": frame}, "t", cond, compiler.params), frame.filter(f.as_expr())["id"].sort().to_list()


def like_reference(text: str, pattern: str) -> bool:
    """SQL LIKE by dynamic programming over code points (``%`` any run, ``_`` one)."""
    reach = {0}
    for char in pattern:
        if char == "%":
            start = min(reach) if reach else len(text) + 1
            reach = set(range(start, len(text) + 1))
        else:
            reach = {i + 1 for i in reach if i < len(text) and (char == "_" or text[i] == char)}
    return len(text) in reach


# --- the case rule -------------------------------------------------------------------------


def test_both_engines_fold_every_code_point_alike():
    """The rule of deploykit.predicates, checked on all of Unicode (surrogates aside)."""
    chars = pl.DataFrame({"c": [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]})
    folded = chars.with_columns(polars_fold=fold(pl.col("c")))
    compiler = SqlCompiler()
    sql = f"SELECT c, polars_fold, {compiler.fold(exp.column('c')).sql('duckdb')} AS duck FROM t"
    con = duckdb.connect()
    con.register("t", folded)
    differ = con.execute(
        f"SELECT c, polars_fold, duck FROM ({sql}) WHERE duck <> polars_fold", compiler.params
    )
    assert differ.fetchall() == []
    # one code point to one code point, never context-dependent:
    assert (folded["polars_fold"].str.len_chars() == 1).all()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("İstanbul", "istanbul"),
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("ΟΔΥΣΣΕΥΣ ΣΑ", "οδυσσευσ σα"),
        ("σίσυφος", "σίσυφος"),
        ("STRAẞE", "straße"),
        ("Straße", "straße"),
        ("ǅemal", "ǆemal"),
        ("\U00010d50", "\U00010d70"),
    ],
)
def test_the_fold_is_simple_lowercase_on_both_engines(text, expected):
    compiler = SqlCompiler()
    folded = compiler.fold(compiler.param(text)).sql("duckdb")
    assert _DUCKDB.execute(f"SELECT {folded}", compiler.params).fetchall() == [(expected,)]
    assert fold_text(text) == expected


# --- like_ and startswith_ -----------------------------------------------------------------

LIKE_CASES = [
    ("deploy-10", "%oy-1_", True),
    ("deploy-1", "%oy-1_", False),
    ("deploy-10", "oy-1_", True),
    ("deploy-1x", "deploy-1_", True),
    ("İstanbul", "istanbul", True),
    ("istanbul", "İSTANBUL", True),
    ("İstanbul", "i\u0307stanbul", False),
    ("ΣΊΣΥΦΟΣ", "σίσυφοσ", True),
    ("ΣΊΣΥΦΟΣ", "ΣΊΣΥΦΟΣ", True),
    ("σίσυφοσ", "ΣΊΣΥΦΟΣ", True),
    ("σίσυφος", "ΣΊΣΥΦΟΣ", False),
    ("σίσυφος", "ΣΊΣΥΦΟ_", True),
    ("STRAẞE", "straße", True),
    ("Straße", "STRASSE", False),
    ("a\nb", "a_b", True),
    ("a\n\nb", "a%b", True),
    ("C:\\temp", "c:\\t", True),
    ("C:xtemp", "c:\\t", False),
    ("50% off", "0% O", True),
    ("a.b", "a.b", True),
    ("axb", "a.b", False),
    ("a+b (x) [y] {z} $^|?*", "+b (x) [y] {z} $^|?*", True),
    ("𝄞 clef", "_ CLEF", True),
    ("anything", "", True),
]


@pytest.mark.parametrize(("name", "like", "expected"), LIKE_CASES)
def test_like_keeps_prefect_wildcards_and_one_case_rule(name, like, expected):
    frame = pl.DataFrame({"id": ["x"], "name": [name]})
    selected = ["x"] if expected else []
    assert both_engines(frame, dk.FlowFilter(name={"like_": like})) == (selected, selected)


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("High-k8s", "high", True),
        ("sad-marvin", "marvin", False),
        ("q1", "q_", True),
        ("q", "q_", False),
        ("istanbul-queue", "İS", True),
        ("ΣΑΣ-queue", "σασ", True),
        ("a\nb", "a_b", True),
    ],
)
def test_startswith_is_prefect_ilike_prefix_on_both_engines(name, prefix, expected):
    frame = pl.DataFrame({"id": ["x"], "name": [name]})
    selected = ["x"] if expected else []
    assert both_engines(frame, dk.WorkQueueFilter(name={"startswith_": [prefix]})) == (selected, selected)


ALPHABET = st.sampled_from(
    list("aAbBzZ09-. %_\\\n\t$^*+?()[]{}|")
    + list("İiıIΣσςΫΐßẞǅǆǄ")
    + ["\u0307", "\u0301", "\u1c89", "\U00010d50", "\U00010d70", "\U0001d11e", "ﬃ", "K", "Å"]
)
unicode_text = st.text(ALPHABET, max_size=10) | st.text(max_size=6)


@st.composite
def name_and_pattern(draw):
    names = draw(st.lists(unicode_text, min_size=1, max_size=8))
    source = draw(st.sampled_from(names))
    start = draw(st.integers(0, len(source)))
    cut = list(source[start : draw(st.integers(start, len(source)))])
    for i in draw(st.lists(st.integers(0, max(len(cut) - 1, 0)), max_size=3)):
        if cut:
            cut[i] = draw(st.sampled_from(["%", "_"]))
    pattern = draw(st.just("".join(cut)) | unicode_text)
    if draw(st.booleans()):
        pattern = pattern.upper() if draw(st.booleans()) else pattern.lower()
    return names, pattern


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=name_and_pattern())
def test_like_and_startswith_agree_on_unicode_text_with_wildcards(case):
    names, pattern = case
    frame = pl.DataFrame({"id": [f"{i:02}" for i in range(len(names))], "name": names})
    folded = frame.select(fold(pl.col("name")))["name"].to_list()
    p = fold_text(pattern)
    like = [i for i, n in zip(frame["id"], folded, strict=True) if like_reference(n, f"%{p}%")]
    prefix = [i for i, n in zip(frame["id"], folded, strict=True) if like_reference(n, f"{p}%")]
    assert both_engines(frame, dk.FlowFilter(name={"like_": pattern})) == (like, like)
    assert both_engines(frame, dk.WorkQueueFilter(name={"startswith_": [pattern]})) == (prefix, prefix)


def test_long_patterns_and_values_stay_bound():
    pattern = "(_%" * 3000
    frame = pl.DataFrame({"id": ["x"], "name": ["(a" * 3000]})
    assert both_engines(frame, dk.FlowFilter(name={"like_": pattern})) == (["x"], ["x"])


# --- Prefect 3's deployment criteria -------------------------------------------------------

FLOWS = pl.DataFrame({"id": ["f1", "f2"], "name": ["ETL-flow", "ml_train"]})
QUEUES = [UUID(int=q) for q in (1, 2, 3)]
FLOW_NAME = sqlglot.parse_one("(SELECT f.name FROM flow AS f WHERE f.id = d.flow_id)")
DEPLOYMENT_SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "flow_id": pl.String,
    "paused": pl.Boolean,
    "work_queue_id": pl.String,
    "concurrency_limit": pl.Int64,
}


def deployments_both_ways(rows: list[dict], f: dk.DeploymentFilter) -> tuple[list, list]:
    """The deployment ids ``f`` selects: SQL over deployment + flow tables, Polars over a
    frame that carries ``flow_name`` as read_deployments' frames do."""
    frame = pl.DataFrame(
        [{"id": f"d{i:02}", **r} for i, r in enumerate(rows)], schema=DEPLOYMENT_SCHEMA, orient="row"
    )
    compiler = SqlCompiler()
    cond = compiler.compile(f.as_predicate(), "d", columns={"flow_name": FLOW_NAME})
    in_sql = sql_ids({"deployment": frame, "flow": FLOWS}, "deployment", cond, compiler.params)
    named = frame.join(FLOWS.rename({"id": "flow_id", "name": "flow_name"}), on="flow_id", how="left")
    return in_sql, named.filter(f.as_expr())["id"].sort().to_list()


ROWS = [
    {
        "name": "nightly",
        "flow_id": "f1",
        "paused": False,
        "work_queue_id": str(QUEUES[0]),
        "concurrency_limit": 1,
    },
    {
        "name": "etl-hourly",
        "flow_id": "f2",
        "paused": True,
        "work_queue_id": str(QUEUES[1]),
        "concurrency_limit": 5,
    },
    {"name": "report", "flow_id": "f2", "paused": True, "work_queue_id": None, "concurrency_limit": None},
    {
        "name": "train_X",
        "flow_id": "f2",
        "paused": False,
        "work_queue_id": str(QUEUES[2]),
        "concurrency_limit": 3,
    },
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"paused": {"eq_": True}}, ["d01", "d02"]),
        ({"paused": {"eq_": False}}, ["d00", "d03"]),
        ({"work_queue_id": {"any_": [QUEUES[0], QUEUES[2]]}}, ["d00", "d03"]),
        ({"work_queue_id": {"any_": []}}, []),
        ({"concurrency_limit": {"ge_": 3}}, ["d01", "d03"]),
        ({"concurrency_limit": {"le_": 3}}, ["d00", "d03"]),
        ({"concurrency_limit": {"ge_": 2, "le_": 4}}, ["d03"]),
        ({"concurrency_limit": {"is_null_": True}}, ["d02"]),
        ({"concurrency_limit": {"is_null_": False}}, ["d00", "d01", "d03"]),
        ({"flow_or_deployment_name": {"like_": "etl"}}, ["d00", "d01"]),
        ({"flow_or_deployment_name": {"like_": "TRAIN"}}, ["d01", "d02", "d03"]),
        ({"flow_or_deployment_name": {"like_": "n_x"}}, ["d03"]),
        (
            {"operator": "or_", "paused": {"eq_": True}, "concurrency_limit": {"le_": 1}},
            ["d00", "d01", "d02"],
        ),
    ],
)
def test_prefect3_deployment_criteria_on_both_engines(spec, expected):
    in_sql, in_polars = deployments_both_ways(ROWS, dk.DeploymentFilter.model_validate(spec))
    assert in_sql == in_polars == expected


deployment_rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["nightly", "etl-x", "Ünï_1", "train", "ΣΑΣ"]),
            "flow_id": st.sampled_from(["f1", "f2"]),
            "paused": st.booleans() | st.none(),
            "work_queue_id": st.sampled_from([*map(str, QUEUES), None]),
            "concurrency_limit": st.integers(0, 6) | st.none(),
        }
    ),
    max_size=10,
)
prefect3_specs = st.fixed_dictionaries(
    {},
    optional={
        "operator": st.sampled_from(["and_", "or_"]),
        "paused": st.fixed_dictionaries({"eq_": st.booleans()}),
        "work_queue_id": st.fixed_dictionaries({"any_": st.lists(st.sampled_from(QUEUES), max_size=2)}),
        "concurrency_limit": st.fixed_dictionaries(
            {},
            optional={"ge_": st.integers(0, 6), "le_": st.integers(0, 6), "is_null_": st.booleans()},
        ),
        "flow_or_deployment_name": st.fixed_dictionaries(
            {"like_": st.sampled_from(["etl", "ML_", "σα", "%n_", "", "zz"])}
        ),
        "name": st.fixed_dictionaries({"like_": st.sampled_from(["t", "ü", "_"])}),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=deployment_rows, spec=prefect3_specs)
def test_prefect3_deployment_filters_agree_between_sql_and_polars(rows, spec):
    in_sql, in_polars = deployments_both_ways(rows, dk.DeploymentFilter.model_validate(spec))
    assert in_sql == in_polars


def test_prefect3_criteria_compile_to_bound_parameters():
    compiler = SqlCompiler()
    f = dk.DeploymentFilter(
        paused={"eq_": True},
        work_queue_id={"any_": [QUEUES[0]]},
        concurrency_limit={"ge_": 2, "is_null_": False},
    )
    assert compiler.compile(f.as_predicate(), "d").sql("duckdb") == (
        "d.paused = $p0 AND d.work_queue_id IN ($p1) AND (d.concurrency_limit >= $p2 "
        "AND NOT d.concurrency_limit IS NULL)"
    )
    assert compiler.params == {"p0": True, "p1": QUEUES[0], "p2": 2}


def test_prefect3_class_names_are_public_everywhere():
    for name in ("DeploymentFilterPaused", "DeploymentFilterWorkQueueId", "DeploymentFilterConcurrencyLimit"):
        assert getattr(dk, name) is getattr(deploykit.filters, name) is getattr(deploykit.schemas, name)
    assert dk.DeploymentOrFlowNameFilter is deploykit.filters.DeploymentOrFlowNameFilter


# --- schemas document themselves; one definition, three import paths ----------------------

FILTERS = [
    dk.FlowFilter,
    dk.FlowRunFilter,
    dk.TaskRunFilter,
    dk.DeploymentFilter,
    dk.WorkPoolFilter,
    dk.WorkQueueFilter,
]


@pytest.mark.parametrize("cls", FILTERS, ids=lambda c: c.__name__)
def test_every_filter_field_has_a_description(cls):
    schema = cls.model_json_schema()
    models = [schema, *schema.get("$defs", {}).values()]
    missing = [
        f"{model['title']}.{field}"
        for model in models
        if model.get("type") == "object"
        for field, info in model["properties"].items()
        if not info.get("description")
    ]
    assert missing == []
    assert schema["additionalProperties"] is False


def test_filter_classes_are_defined_once_and_compilers_left_deploykit_filters():
    for name in deploykit.filters.__all__:
        assert getattr(deploykit.filters, name) is getattr(deploykit.schemas, name) is getattr(dk, name)
    assert not hasattr(deploykit.filters, "SqlCompiler")
    assert not hasattr(deploykit.filters, "to_polars")


def _deploykit_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "deploykit" or n.startswith("deploykit.")}


def test_predicates_import_nothing_of_deploykit_but_errors():
    for path in (PACKAGE / "predicates").glob("*.py"):
        outside = {
            n
            for n in _deploykit_imports(path)
            if not n.startswith(("deploykit.predicates", "deploykit._errors"))
        }
        assert outside == set(), path.name


def test_schemas_never_import_the_filters_facade_or_a_compiler_module():
    for path in (PACKAGE / "schemas").glob("*.py"):
        imported = _deploykit_imports(path)
        assert not {n for n in imported if n.startswith("deploykit.filters")}, path.name
        assert not {n for n in imported if n.startswith("deploykit.predicates._")}, path.name
