"""Filters: one predicate tree, two compilers. Hypothesis shows SQL and Polars agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import deploykit as dk
from deploykit.predicates import SqlCompiler

TAGS = ["prod", "dev", "etl", "ml", "Ünï"]
NAMES = ["alpha", "Beta-1", "gamma_x", "ALPHA two", "delta", "İstanbul", "ΣΊΣΥΦΟΣ", "σίσυφος", "STRAẞE", None]
STATES = ["COMPLETED", "FAILED", "RUNNING", "SCHEDULED", None]
IDS = [UUID(int=i) for i in range(1, 7)]
T0 = datetime(2023, 3, 1, tzinfo=UTC)
TIMES = [T0 + timedelta(hours=h) for h in (0, 5, 10, 24)] + [None]


def run_rows() -> st.SearchStrategy[list[dict]]:
    row = st.fixed_dictionaries(
        {
            "name": st.sampled_from([n for n in NAMES if n]),
            "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
            "deployment_id": st.sampled_from([*[str(i) for i in IDS[:3]], None]),
            "work_queue_name": st.sampled_from(["q1", "Q2", None]),
            "state_type": st.sampled_from(STATES),
            "state_name": st.sampled_from(["Completed", "Failed", None]),
            "flow_version": st.sampled_from(["1", "2", None]),
            "start_time": st.sampled_from(TIMES),
            "expected_start_time": st.sampled_from(TIMES),
            "next_scheduled_start_time": st.sampled_from(TIMES),
            "parent_task_run_id": st.sampled_from([str(IDS[4]), None]),
        }
    )
    return st.lists(row, min_size=0, max_size=12)


RUN_SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "tags": pl.List(pl.String),
    "deployment_id": pl.String,
    "work_queue_name": pl.String,
    "state_type": pl.String,
    "state_name": pl.String,
    "flow_version": pl.String,
    "start_time": pl.Datetime("us", "UTC"),
    "expected_start_time": pl.Datetime("us", "UTC"),
    "next_scheduled_start_time": pl.Datetime("us", "UTC"),
    "parent_task_run_id": pl.String,
}

op = st.sampled_from(["and_", "or_"])
maybe = lambda s: st.none() | s  # noqa: E731
name_crit = st.fixed_dictionaries(
    {},
    optional={
        "any_": st.lists(st.sampled_from([n for n in NAMES if n]), max_size=2),
        "like_": st.sampled_from(
            ["alpha", "A", "-", "ta", "zz", "", "istanbul", "σίσυφοσ", "ΣΊΣΥΦΟ_", "straße", "a_", "%a", "_"]
        ),
    },
)
tags_crit = st.fixed_dictionaries(
    {},
    optional={"operator": op, "all_": st.lists(st.sampled_from(TAGS), max_size=2), "is_null_": st.booleans()},
)
time_crit = st.fixed_dictionaries(
    {}, optional={"before_": st.sampled_from(TIMES[:-1]), "after_": st.sampled_from(TIMES[:-1])}
)
flow_run_filters = st.fixed_dictionaries(
    {},
    optional={
        "operator": op,
        "id": st.fixed_dictionaries(
            {},
            optional={
                "any_": st.lists(st.sampled_from(IDS), max_size=3),
                "not_any_": st.lists(st.sampled_from(IDS), max_size=3),
            },
        ),
        "name": name_crit,
        "tags": tags_crit,
        "deployment_id": st.fixed_dictionaries(
            {},
            optional={
                "operator": op,
                "any_": st.lists(st.sampled_from(IDS[:4]), max_size=2),
                "is_null_": st.booleans(),
            },
        ),
        "work_queue_name": st.fixed_dictionaries(
            {},
            optional={
                "operator": op,
                "any_": st.lists(st.sampled_from(["q1", "Q2", "q3"]), max_size=2),
                "is_null_": st.booleans(),
            },
        ),
        "state": st.fixed_dictionaries(
            {},
            optional={
                "operator": op,
                "type": st.fixed_dictionaries({"any_": st.lists(st.sampled_from(STATES[:-1]), max_size=2)}),
                "name": st.fixed_dictionaries(
                    {"any_": st.lists(st.sampled_from(["Completed", "Failed"]), max_size=2)}
                ),
            },
        ),
        "flow_version": st.fixed_dictionaries({"any_": st.lists(st.sampled_from(["1", "2"]), max_size=2)}),
        "start_time": st.fixed_dictionaries(
            {},
            optional={
                "before_": st.sampled_from(TIMES[:-1]),
                "after_": st.sampled_from(TIMES[:-1]),
                "is_null_": st.booleans(),
            },
        ),
        "expected_start_time": time_crit,
        "next_scheduled_start_time": time_crit,
        "parent_task_run_id": st.fixed_dictionaries(
            {},
            optional={
                "operator": op,
                "any_": st.lists(st.sampled_from(IDS[3:]), max_size=2),
                "is_null_": st.booleans(),
            },
        ),
    },
)


def _sql_ids(frame: pl.DataFrame, condition_sql: str, params: dict) -> list[str]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", frame)
    rows = con.execute(f"SELECT id FROM t AS fr WHERE {condition_sql} ORDER BY id", params).fetchall()
    return [r[0] for r in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=run_rows(), spec=flow_run_filters)
def test_flow_run_filter_sql_and_polars_select_the_same_ids(rows, spec):
    frame = pl.DataFrame(
        [{"id": str(UUID(int=i + 1)), **r} for i, r in enumerate(rows)], schema=RUN_SCHEMA, orient="row"
    )
    f = dk.FlowRunFilter.model_validate(spec)
    compiler = SqlCompiler()
    cond = compiler.compile(f.as_predicate(), "fr").sql("duckdb")
    assert _sql_ids(frame, cond, compiler.params) == frame.filter(f.as_expr())["id"].sort().to_list()


deployment_filters = st.fixed_dictionaries(
    {},
    optional={
        "operator": op,
        "id": st.fixed_dictionaries({"any_": st.lists(st.sampled_from(IDS), max_size=3)}),
        "name": name_crit,
        "is_schedule_active": st.fixed_dictionaries({"eq_": st.booleans()}),
        "tags": tags_crit,
        "work_queue_name": st.fixed_dictionaries(
            {"any_": st.lists(st.sampled_from(["q1", "Q2"]), max_size=2)}
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(
    spec=deployment_filters,
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from([n for n in NAMES if n]),
                "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
                "is_schedule_active": st.booleans(),
                "work_queue_name": st.sampled_from(["q1", "Q2", None]),
            }
        ),
        max_size=10,
    ),
)
def test_deployment_filter_in_the_store_equals_polars_on_the_frame(spec, rows):
    """The same filter through read_deployments (DuckDB) and as_expr on the returned frame."""
    with dk.Store() as store:
        flow = dk.models.flows.create_flow(store, dk.Flow(name="f"))
        for i, r in enumerate(rows):
            dk.models.deployments.create_deployment(
                store,
                dk.Deployment(id=UUID(int=i + 1), flow_id=flow.id, **(r | {"name": f"{r['name']}-{i}"})),
            )
        f = dk.DeploymentFilter.model_validate(spec)
        everything = dk.models.deployments.read_deployments(store)
        in_sql = dk.models.deployments.read_deployments(store, deployment_filter=f)["id"].sort().to_list()
        assert in_sql == everything.filter(f.as_expr())["id"].sort().to_list()
        assert dk.models.deployments.count_deployments(store, deployment_filter=f) == len(in_sql)


def test_task_run_subflow_filter_reads_has_subflow_column():
    frame = pl.DataFrame({"id": ["a", "b"], "has_subflow": [True, False]})
    assert frame.filter(dk.TaskRunFilter(subflow_runs={"exists_": True}).as_expr())["id"].to_list() == ["a"]
    assert frame.filter(dk.TaskRunFilter(subflow_runs={"exists_": False}).as_expr())["id"].to_list() == ["b"]


def test_subflow_filter_in_the_store(store, flow):
    from deploykit.models import flow_runs, task_runs

    dep = dk.models.deployments.create_deployment(store, dk.Deployment(name="d", flow_id=flow.id))
    other = dk.models.deployments.create_deployment(store, dk.Deployment(name="e", flow_id=flow.id))
    parent = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=dep.id))
    task = task_runs.create_task_run(store, dk.TaskRun(flow_run_id=parent.id, task_key="t"))
    flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, parent_task_run_id=task.id))
    plain = flow_runs.create_flow_run(store, dk.FlowRun(flow_id=flow.id, deployment_id=other.id))
    task_runs.create_task_run(store, dk.TaskRun(flow_run_id=plain.id, task_key="t"))
    read = dk.models.deployments.read_deployments
    assert read(store, task_run_filter={"subflow_runs": {"exists_": True}})["name"].to_list() == ["d"]
    assert read(store, task_run_filter={"subflow_runs": {"exists_": False}})["name"].to_list() == ["e"]


def test_empty_filter_selects_everything_and_empty_any_selects_nothing():
    frame = pl.DataFrame({"id": ["a"], "name": ["x"], "tags": [["t"]]})
    assert frame.filter(dk.FlowFilter().as_expr()).height == 1
    assert frame.filter(dk.FlowFilter(operator="or_").as_expr()).height == 1
    assert frame.filter(dk.FlowFilter(name={"any_": []}).as_expr()).height == 0


@pytest.mark.parametrize(
    "cls,spec,field",
    [
        (dk.FlowFilter, {"nmae": {"any_": ["x"]}}, "nmae"),
        (dk.DeploymentFilter, {"tags": {"any_": ["x"]}}, "any_"),
        (dk.FlowRunFilter, {"operator": "xor_"}, "operator"),
        (dk.FlowRunFilter, {"start_time": {"before_": datetime(2023, 1, 1)}}, "before_"),
        (dk.FlowRunFilter, {"state": {"type": {"any_": ["DONE"]}}}, "any_"),
        (dk.DeploymentFilter, {"id": {"any_": ["not-a-uuid"]}}, "any_"),
    ],
)
def test_bad_filters_name_the_field(cls, spec, field):
    with pytest.raises(ValidationError, match=field):
        cls.model_validate(spec)


def test_values_are_bound_never_inlined():
    hostile = "'; DROP TABLE deployment; --"
    compiler = SqlCompiler()
    sql = compiler.compile(
        dk.DeploymentFilter(name={"any_": [hostile], "like_": hostile}).as_predicate(), "d"
    )
    text = sql.sql("duckdb")
    assert "DROP" not in text and hostile in compiler.params.values()


ID_CRITERIA = {
    "operator": op,
    "id": st.fixed_dictionaries({"any_": st.lists(st.sampled_from(IDS), max_size=3)}),
}
"""The criteria every filter family takes: ``operator`` and ``id``."""
NAMED_CRITERIA = {**ID_CRITERIA, "name": name_crit, "tags": tags_crit}
"""And ``name`` and ``tags``, for the families with both (flows, task runs)."""

OTHER_FAMILIES = {
    dk.FlowFilter: st.fixed_dictionaries({}, optional=NAMED_CRITERIA),
    dk.TaskRunFilter: st.fixed_dictionaries(
        {},
        optional={
            **NAMED_CRITERIA,
            "state": st.fixed_dictionaries(
                {},
                optional={
                    "operator": op,
                    "type": st.fixed_dictionaries(
                        {"any_": st.lists(st.sampled_from(STATES[:-1]), max_size=2)}
                    ),
                    "name": st.fixed_dictionaries(
                        {"any_": st.lists(st.sampled_from(["Completed", "Failed"]), max_size=2)}
                    ),
                },
            ),
            "start_time": st.fixed_dictionaries(
                {},
                optional={
                    "before_": st.sampled_from(TIMES[:-1]),
                    "after_": st.sampled_from(TIMES[:-1]),
                    "is_null_": st.booleans(),
                },
            ),
        },
    ),
    dk.WorkPoolFilter: st.fixed_dictionaries(
        {},
        optional={
            **ID_CRITERIA,
            "name": st.fixed_dictionaries(
                {"any_": st.lists(st.sampled_from([n for n in NAMES if n]), max_size=2)}
            ),
            "type": st.fixed_dictionaries(
                {"any_": st.lists(st.sampled_from(["process", "k8s"]), max_size=2)}
            ),
        },
    ),
    dk.WorkQueueFilter: st.fixed_dictionaries(
        {},
        optional={
            **ID_CRITERIA,
            "name": st.fixed_dictionaries(
                {},
                optional={
                    "any_": st.lists(st.sampled_from([n for n in NAMES if n]), max_size=2),
                    "startswith_": st.lists(
                        st.sampled_from(["al", "BE", "x", "gamma_", "İS", "σί", "_e", "%l"]), max_size=2
                    ),
                },
            ),
        },
    ),
}

GENERIC_SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "tags": pl.List(pl.String),
    "type": pl.String,
    "state_type": pl.String,
    "state_name": pl.String,
    "start_time": pl.Datetime("us", "UTC"),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=st.sampled_from(list(OTHER_FAMILIES)),
    data=st.data(),
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(NAMES),
                "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
                "type": st.sampled_from(["process", "k8s", None]),
                "state_type": st.sampled_from(STATES),
                "state_name": st.sampled_from(["Completed", "Failed", None]),
                "start_time": st.sampled_from(TIMES),
            }
        ),
        max_size=12,
    ),
)
def test_other_filter_families_agree_between_sql_and_polars(family, data, rows):
    frame = pl.DataFrame(
        [{"id": str(UUID(int=i + 1)), **r} for i, r in enumerate(rows)], schema=GENERIC_SCHEMA, orient="row"
    )
    f = family.model_validate(data.draw(OTHER_FAMILIES[family]))
    compiler = SqlCompiler()
    cond = compiler.compile(f.as_predicate(), "fr").sql("duckdb")
    assert _sql_ids(frame, cond, compiler.params) == frame.filter(f.as_expr())["id"].sort().to_list()
