"""SQL shared by the deployment reads: select lists, sort orders and the six filter families.

Statements are sqlglot trees parsed once at import; ``filtered`` adds one EXISTS subquery
per related entity, with every user value bound through the :class:`SqlCompiler`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from deploykit.models._filters import given_filters
from deploykit.predicates import SqlCompiler
from deploykit.schemas.sorting import DeploymentSort

if TYPE_CHECKING:
    from typing import Unpack

    from deploykit.models._filters import FleetFilters

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
        s.schedule_type, NOT d.paused AS is_schedule_active
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


def filtered(base: exp.Select, compiler: SqlCompiler, **filters: Unpack[FleetFilters]) -> exp.Select:
    """``base`` restricted by every given filter (one statement, EXISTS subqueries).

    ``base`` selects from ``deployment AS d``; the other filters test ``d``'s flow
    (``f``), its flow runs (``fr``) and their task runs (``tr``), its queue (``wq``)
    and that queue's pool (``wp``).
    """
    given = given_filters(filters)

    def holds(name: str, alias: str) -> exp.Expression | None:
        model = given.get(name)
        columns = DEPLOYMENT_COLUMNS if alias == "d" else None
        return None if model is None else compiler.compile(model.as_predicate(), alias, columns=columns)

    conditions = [
        holds("deployment_filter", "d"),
        exists(_FLOW_OF_DEPLOYMENT, holds("flow_filter", "f")),
        exists(
            _RUNS_OF_DEPLOYMENT,
            holds("flow_run_filter", "fr"),
            exists(_TASKS_OF_RUN, holds("task_run_filter", "tr")),
        ),
        exists(_QUEUE_OF_DEPLOYMENT, holds("work_queue_filter", "wq"), holds("work_pool_filter", "wp")),
    ]
    return base.copy().where(*[c for c in conditions if c is not None], copy=False)


def exists(select: exp.Select, *conditions: exp.Expression | None) -> exp.Exists | None:
    """``EXISTS (select WHERE <every given condition>)``; None when no condition is given."""
    given = [c for c in conditions if c is not None]
    return exp.Exists(this=select.where(*given)) if given else None
