"""The legacy queue-matching rules as SQL over a deployment ``d`` and a queue ``q``.

One definition serves ``check_work_queues_for_deployment`` (which queues pick a
deployment up) and the deployments x queues matrix of ``queue_matches``. ``QUEUES`` is
the CTE both read: every queue with its pool's name and its filter's three lists
decoded once (a null filter, or a null / empty list in it, means "no restriction",
Prefect 2.10's behaviour on SQLite).
"""

from __future__ import annotations

QUEUES = """
q AS (
    SELECT wq.*, p.name AS work_pool_name,
        coalesce(json_extract_string(wq.filter, '$.tags[*]'), []) AS f_tags,
        coalesce(json_extract_string(wq.filter, '$.deployment_ids[*]'), []) AS f_ids,
        coalesce(json_extract_string(wq.filter, '$.flow_runner_types[*]'), []) AS f_runners
    FROM work_queue AS wq JOIN work_pool AS p ON p.id = wq.work_pool_id
)"""
RULE_COLUMNS = "f_tags, f_ids, f_runners"
"""The decoded lists, dropped from results with ``EXCLUDE``."""

TAGS_MATCH = "(len(q.f_tags) = 0 OR list_has_all(d.tags, q.f_tags))"
"""1. the queue's tags are a subset of the deployment's tags."""

MISSING_TAGS = "list_filter(q.f_tags, lambda t: NOT list_contains(d.tags, t))"
"""The queue tags the deployment lacks (empty when rule 1 holds)."""

DEPLOYMENT_ID_MATCH = "(len(q.f_ids) = 0 OR list_contains(q.f_ids, CAST(d.id AS VARCHAR)))"
"""2. the queue lists no deployment ids, or lists this one."""

FLOW_RUNNER_MATCH = (
    "(len(q.f_runners) = 0 OR "
    "coalesce(list_contains(q.f_runners, json_extract_string(d.flow_runner, '$.type')), false))"
)
"""3. the queue names no flow runner types, or the deployment's one."""

MATCHES = f"({TAGS_MATCH} AND {DEPLOYMENT_ID_MATCH} AND {FLOW_RUNNER_MATCH})"
"""All three rules: the queue picks the deployment up."""

ASSIGNED = "coalesce(d.work_queue_id = q.id, false)"
"""The deployment names this queue itself (its ``work_queue_id``)."""
