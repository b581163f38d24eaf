"""The legacy queue-matching rules as SQL over a deployment ``d`` and a queue ``q``.

One definition serves ``check_work_queues_for_deployment`` (which queues pick a
deployment up) and the deployments x queues matrix of ``queue_matches``. A null
filter, or a null / empty list in it, means "no restriction" (Prefect 2.10 on SQLite).
"""

from __future__ import annotations

FILTER_TAGS = "coalesce(json_extract_string(q.filter, '$.tags[*]'), [])"
FILTER_IDS = "coalesce(json_extract_string(q.filter, '$.deployment_ids[*]'), [])"
FILTER_RUNNERS = "coalesce(json_extract_string(q.filter, '$.flow_runner_types[*]'), [])"
RUNNER_TYPE = "json_extract_string(d.flow_runner, '$.type')"

TAGS_MATCH = f"(len({FILTER_TAGS}) = 0 OR list_has_all(d.tags, {FILTER_TAGS}))"
"""1. the queue's tags are a subset of the deployment's tags."""

MISSING_TAGS = f"list_filter({FILTER_TAGS}, t -> NOT list_contains(d.tags, t))"
"""The queue tags the deployment lacks (empty when rule 1 holds)."""

DEPLOYMENT_ID_MATCH = f"(len({FILTER_IDS}) = 0 OR list_contains({FILTER_IDS}, CAST(d.id AS VARCHAR)))"
"""2. the queue lists no deployment ids, or lists this one."""

FLOW_RUNNER_MATCH = (
    f"(len({FILTER_RUNNERS}) = 0 OR coalesce(list_contains({FILTER_RUNNERS}, {RUNNER_TYPE}), false))"
)
"""3. the queue names no flow runner types, or the deployment's one."""

MATCHES = f"({TAGS_MATCH} AND {DEPLOYMENT_ID_MATCH} AND {FLOW_RUNNER_MATCH})"
"""All three rules: the queue picks the deployment up."""

ASSIGNED = "coalesce(d.work_queue_id = q.id, false)"
"""The deployment names this queue itself (its ``work_queue_id``)."""
