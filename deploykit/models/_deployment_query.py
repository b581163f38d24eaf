"""SQL shared by the deployment reads: select lists, sort orders and the six filter families.

Statements are sqlglot trees parsed once at import; ``filtered`` adds one EXISTS subquery
per related entity, with every user value bound through the :class:`SqlCompiler`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from deploykit.filters import (
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    TaskRunFilter,
    WorkPoolFilter,
    WorkQueueFilter,
)
from deploykit.models._args import coerce_filter
from deploykit.predicates import SqlCompiler
from deploykit.schemas.sorting import DeploymentSort

SCHEDULE_KIND_SQL = (
    "CASE WHEN json_exists({0}, '$.cron') THEN 'cron' "
    "WHEN json_exists({0}, '$.interval') THEN 'interval' ELSE 'rrule' END"
)
"""The kind (``cron``, ``interval``, ``rrule``) of a schedule's JSON text ``{0}``."""
_ISO = "strftime(timezone('UTC', {0}), '%Y-%m-%dT%H:%M:%S.%fZ')"
SCHEDULES_OF_DEPLOYMENTS = f"""(
    SELECT deployment_id, count(*) AS n, any_value(schedule) AS one,
        CASE WHEN count(DISTINCT kind) = 1 THEN any_value(kind) ELSE 'mixed' END AS schedule_type,
        CAST(to_json(list({{
            'id': id, 'schedule': json(schedule), 'active': active,
            'max_scheduled_runs': max_scheduled_runs, 'parameters': json(parameters), 'slug': slug,
            'created': {_ISO.format("created")}, 'updated': {_ISO.format("updated")}
        }} ORDER BY created, id)) AS VARCHAR) AS schedules
    FROM (SELECT *, {SCHEDULE_KIND_SQL.format("schedule")} AS kind FROM deployment_schedule)
    GROUP BY deployment_id
) AS s"""
"""Per deployment with schedules: how many (``n``), the schedule when there is one, their
common kind (``'mixed'`` when kinds differ) and all of them as a JSON list."""
_VIEW_COLUMNS = (
    "CASE WHEN s.n = 1 THEN s.one END AS schedule, NOT d.paused AS is_schedule_active, d.paused, "
    "coalesce(s.schedules, '[]') AS schedules"
)
_JOINS = f"""
    LEFT JOIN {SCHEDULES_OF_DEPLOYMENTS} ON s.deployment_id = d.id
    LEFT JOIN flow AS f ON f.id = d.flow_id
    LEFT JOIN work_queue AS q ON q.id = d.work_queue_id
    LEFT JOIN work_pool AS p ON p.id = q.work_pool_id
"""
SELECT_DEPLOYMENTS = sqlglot.parse_one(
    f"""
    SELECT d.id, d.created, d.updated, d.name, d.flow_id, d.version, d.description, {_VIEW_COLUMNS},
        d.* EXCLUDE (id, created, updated, name, flow_id, version, description, paused),
        s.schedule_type, f.name AS flow_name, p.name AS work_pool_name
    FROM deployment AS d {_JOINS}
    """,
    dialect="duckdb",
)
"""Every column of ``deployment``, the 2.10 views ``schedule`` (the one schedule, else null)
and ``is_schedule_active`` (not paused), ``schedules`` (a JSON list of every schedule:
id, schedule, active, max_scheduled_runs, parameters, slug, created, updated), ``schedule_type`` (the kind
of the schedules, ``'mixed'`` when they differ, null without schedules), ``flow_name`` and
``work_pool_name`` (of the queue ``work_queue_id`` points at)."""
SELECT_OVERVIEW = sqlglot.parse_one(
    f"""
    SELECT d.id, d.name, f.name AS flow_name, d.tags, d.work_queue_name, p.name AS work_pool_name,
        s.schedule_type, NOT d.paused AS is_schedule_active, d.paused, coalesce(s.n, 0) AS schedule_count
    FROM deployment AS d {_JOINS}
    """,
    dialect="duckdb",
)
FLOW_NAME = sqlglot.parse_one("(SELECT f_.name FROM flow AS f_ WHERE f_.id = d.flow_id)", dialect="duckdb")
DEPLOYMENT_COLUMNS = {
    "flow_name": FLOW_NAME,
    "is_schedule_active": sqlglot.parse_one("NOT d.paused", dialect="duckdb"),
}
"""SQL for the DeploymentFilter columns table ``deployment`` (alias ``d``) lacks: the flow's
name (``flow_or_deployment_name``) and the 2.10 view ``is_schedule_active``."""
COUNT_DEPLOYMENTS = sqlglot.parse_one("SELECT count(*) FROM deployment AS d", dialect="duckdb")
_FLOW_OF_DEPLOYMENT = sqlglot.parse_one("SELECT 1 FROM flow AS f WHERE f.id = d.flow_id")
_RUNS_OF_DEPLOYMENT = sqlglot.parse_one("SELECT 1 FROM flow_run AS fr WHERE fr.deployment_id = d.id")
_TASKS_OF_RUN = sqlglot.parse_one("SELECT 1 FROM task_run AS tr WHERE tr.flow_run_id = fr.id")
_QUEUE_OF_DEPLOYMENT = sqlglot.parse_one(
    "SELECT 1 FROM work_queue AS wq JOIN work_pool AS wp ON wp.id = wq.work_pool_id "
    "WHERE wq.id = d.work_queue_id"
)
_SORT_SQL: dict[DeploymentSort, list[str]] = {
    DeploymentSort.NAME_ASC: ["d.name", "d.id"],
    DeploymentSort.NAME_DESC: ["d.name DESC", "d.id"],
    DeploymentSort.CREATED_DESC: ["d.created DESC", "d.id"],
    DeploymentSort.UPDATED_DESC: ["d.updated DESC", "d.id"],
}
ORDER_BY = {
    key: [sqlglot.parse_one(f"SELECT 1 ORDER BY {', '.join(cols)}").args["order"]]
    for key, cols in _SORT_SQL.items()
}


def filtered(
    base: exp.Select,
    compiler: SqlCompiler,
    *,
    flow_filter: FlowFilter | Mapping[str, Any] | None,
    flow_run_filter: FlowRunFilter | Mapping[str, Any] | None,
    task_run_filter: TaskRunFilter | Mapping[str, Any] | None,
    deployment_filter: DeploymentFilter | Mapping[str, Any] | None,
    work_pool_filter: WorkPoolFilter | Mapping[str, Any] | None,
    work_queue_filter: WorkQueueFilter | Mapping[str, Any] | None,
) -> exp.Select:
    """``base`` restricted by every given filter (one statement, EXISTS subqueries)."""
    flow_f = coerce_filter(flow_filter, FlowFilter, "flow_filter")
    run_f = coerce_filter(flow_run_filter, FlowRunFilter, "flow_run_filter")
    task_f = coerce_filter(task_run_filter, TaskRunFilter, "task_run_filter")
    dep_f = coerce_filter(deployment_filter, DeploymentFilter, "deployment_filter")
    pool_f = coerce_filter(work_pool_filter, WorkPoolFilter, "work_pool_filter")
    queue_f = coerce_filter(work_queue_filter, WorkQueueFilter, "work_queue_filter")

    query = base.copy()
    if dep_f is not None:
        query = query.where(
            compiler.compile(dep_f.as_predicate(), "d", columns=DEPLOYMENT_COLUMNS), copy=False
        )
    if flow_f is not None:
        flows = _FLOW_OF_DEPLOYMENT.where(compiler.compile(flow_f.as_predicate(), "f"))
        query = query.where(exp.Exists(this=flows), copy=False)
    if run_f is not None or task_f is not None:
        runs = _RUNS_OF_DEPLOYMENT.copy()
        if run_f is not None:
            runs = runs.where(compiler.compile(run_f.as_predicate(), "fr"), copy=False)
        if task_f is not None:
            tasks = _TASKS_OF_RUN.where(compiler.compile(task_f.as_predicate(), "tr"))
            runs = runs.where(exp.Exists(this=tasks), copy=False)
        query = query.where(exp.Exists(this=runs), copy=False)
    if queue_f is not None or pool_f is not None:
        queues = _QUEUE_OF_DEPLOYMENT.copy()
        if queue_f is not None:
            queues = queues.where(compiler.compile(queue_f.as_predicate(), "wq"), copy=False)
        if pool_f is not None:
            queues = queues.where(compiler.compile(pool_f.as_predicate(), "wp"), copy=False)
        query = query.where(exp.Exists(this=queues), copy=False)
    return query
