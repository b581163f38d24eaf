"""What each Prefect release's data looks like: schema revisions and REST body fields.

deploykit reads Prefect 2.10 through 3.x. A server database is recognised by its alembic
revision (``alembic_version.version_num``); REST bodies by their fields. The tables
below were gathered from the releases' own sources (the migration folders of Prefect
2.10.0, 2.14.21, 2.20.27 and 3.9.1 for SQLite and PostgreSQL, from the 2.10 series'
``pull_steps`` migration on) and from the bodies their servers return
(``tests/fixtures/prefect-*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deploykit._errors import SourceError

RELEASES: dict[str, str] = {"2.10": "2.10.0", "2.14": "2.14.21", "2.20": "2.20.27", "3.x": "3.9.1"}
"""The release series deploykit reads, oldest first, and the newest version of each it was checked on."""

_REVISIONS: dict[str, dict[str, str]] = {
    "sqlite": {
        "2.10": "340f457b315f 3d46e23593d6 2dbcec43c857",
        "2.14": (
            "5b0bd3b41a23 c2d001b7dd06 ef674d598dd3 8167af8df781 05ea6f882b1d f3165ae0a213 "
            "cef24af2ec34 22ef3915ccd8 9c493c02ca6d a299308852a7 35659cc49969 c63a0a6dc787"
        ),
        "2.20": (
            "265eb1a2da4c 342220764f0b bacc60edce16 07ed05dfd4ec 8644a9595a08 cc510aec4689 "
            "2b6c2b548f95 824e9edafa60 75c8f17b8b51 a8e62d4c72cf 20fbd53b3cef"
        ),
        "3.x": (
            "2ac65f1758c2 354f1ede7e9f f93e1439f022 7d6350aea855 4ad4658cbefe 5952a5498b51 "
            "a49711513ad4 67f886da208e 07ecde74d74d 3457c6ca2360 bbca16f6f218 7655f31c5157 "
            "3c841a1800a1 bb2345678901 8bb517bae6f9 9e83011d1f2a a1b2c3d4e5f7 4dfa692e02a7 "
            "2095de406cbe 79e7a60e43d8 14806cb26270 f416ea180ae1 a3b9c7d2e5f1 8f5eda7c1dd7 "
            "27d8f4e1a6c9"
        ),
    },
    "postgresql": {
        "2.10": "43c94d4c7aa3 310dda75f561 15f5083c16bd",
        "2.14": (
            "5f623ddbf7fe 50f8c182c3ca db0eb3973a54 4e9a6f93eb6c 05ea6f882b1d bfe653bbf62e "
            "cef24af2ec34 9c493c02ca6d 733ca1903976 7c453555d3a5 6b63c51c31b4"
        ),
        "2.20": (
            "8cf4d4933848 121699507574 7a653837d9ba aeea5ee6f070 bd6efa529f03 916718e8330f "
            "954db7517015 15768c2ec702 7ae9e431e67a 8905262ec07f b23c83a12cb4"
        ),
        "3.x": (
            "94622c1663e8 7495a5013e7e 97429116795e 555ed31b284d eaec5004771f 68a44144428d "
            "5d03c01be85e c163acd7e8e3 a03d00b8e275 b5f5644500d2 06b7c293bc69 7a73514ca2d6 "
            "4160a4841eed 1c9bb7f78263 aa1234567890 3b86c5ea017a 9e83011d1f2a a1b2c3d4e5f6 "
            "09a9e091e578 7218aad17905 bad1e352c597 50737cdaee36 9e9dadc36797 c8d5f2a71b3e "
            "d4a7e1c93f52 e7f54680bce3 91e2b8f3d6a4"
        ),
    },
}
"""Per dialect and release, the revisions that release's migrations added, in migration
order (the last one is the release's head): a database at any of them was made by a
Prefect of that series (or a patch between the previous series and it)."""

REVISIONS: dict[str, dict[str, str]] = {
    dialect: {rev: release for release, revs in by_release.items() for rev in revs.split()}
    for dialect, by_release in _REVISIONS.items()
}
"""``REVISIONS[dialect][revision]``: the release series a schema revision belongs to."""


def release_of_revision(dialect: str, found: Iterable[str], source: str) -> str:
    """The release series of a database whose ``alembic_version`` holds ``found``.

    Examples
    --------
    >>> release_of_revision("sqlite", ["20fbd53b3cef"], "prefect.db")
    '2.20'
    >>> release_of_revision("postgresql", ["0123456789ab"], "db")
    Traceback (most recent call last):
    ...
    deploykit.SourceError: db: unknown Prefect schema revision 0123456789ab (postgresql); ...
    """
    found = sorted(found)
    for rev in found:
        if rev in REVISIONS[dialect]:
            return REVISIONS[dialect][rev]
    known = ", ".join(f"{r} ({v}, head {_REVISIONS[dialect][r].split()[-1]})" for r, v in RELEASES.items())
    raise SourceError(
        f"{source}: unknown Prefect schema revision {', '.join(found) or '(none)'} ({dialect}); "
        f"deploykit reads Prefect {known}: upgrade deploykit for a newer Prefect, or let the "
        "Prefect server migrate an older database first (prefect server database upgrade)"
    )


def _keys(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_BASE = "id created updated"
BODY_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "2.10": {
        "flows": _keys(f"{_BASE} name tags"),
        "work_pools": _keys(
            f"{_BASE} name description type base_job_template is_paused concurrency_limit default_queue_id"
        ),
        "work_queues": _keys(
            f"{_BASE} name description is_paused concurrency_limit priority work_pool_id filter last_polled"
        ),
        "deployments": _keys(
            f"{_BASE} name version description flow_id schedule is_schedule_active infra_overrides "
            "parameters tags work_queue_name parameter_openapi_schema path pull_steps entrypoint "
            "manifest_path storage_document_id infrastructure_document_id created_by updated_by "
            "work_pool_name"
        ),
        "flow_runs": _keys(
            f"{_BASE} name flow_id state_id deployment_id work_queue_name flow_version parameters "
            "idempotency_key context empirical_policy tags parent_task_run_id state_type state_name "
            "run_count expected_start_time next_scheduled_start_time start_time end_time total_run_time "
            "estimated_run_time estimated_start_time_delta auto_scheduled infrastructure_document_id "
            "infrastructure_pid created_by work_pool_name state"
        ),
        "task_runs": _keys(
            f"{_BASE} name flow_run_id task_key dynamic_key cache_key cache_expiration task_version "
            "empirical_policy tags state_id task_inputs state_type state_name run_count "
            "flow_run_run_count expected_start_time next_scheduled_start_time start_time end_time "
            "total_run_time estimated_run_time estimated_start_time_delta state"
        ),
    },
    "2.14": {
        "flows": _keys(f"{_BASE} name tags"),
        "work_pools": _keys(
            f"{_BASE} name description type base_job_template is_paused concurrency_limit "
            "default_queue_id status"
        ),
        "work_queues": _keys(
            f"{_BASE} name description is_paused concurrency_limit priority work_pool_id filter "
            "last_polled work_pool_name status"
        ),
        "deployments": _keys(
            f"{_BASE} name version description flow_id schedule is_schedule_active infra_overrides "
            "parameters tags work_queue_name last_polled parameter_openapi_schema path pull_steps "
            "entrypoint manifest_path storage_document_id infrastructure_document_id created_by "
            "updated_by work_pool_name status enforce_parameter_schema"
        ),
        "flow_runs": _keys(
            f"{_BASE} name flow_id state_id deployment_id work_queue_id work_queue_name flow_version "
            "parameters idempotency_key context empirical_policy tags parent_task_run_id state_type "
            "state_name run_count expected_start_time next_scheduled_start_time start_time end_time "
            "total_run_time estimated_run_time estimated_start_time_delta auto_scheduled "
            "infrastructure_document_id infrastructure_pid created_by work_pool_id work_pool_name state"
        ),
    },
    "2.20": {
        "work_pools": _keys(
            f"{_BASE} name description type base_job_template is_paused concurrency_limit status "
            "default_queue_id"
        ),
        "deployments": _keys(
            f"{_BASE} infra_overrides name version description flow_id schedule is_schedule_active "
            "paused schedules parameters tags work_queue_name last_polled parameter_openapi_schema "
            "path pull_steps entrypoint manifest_path storage_document_id infrastructure_document_id "
            "created_by updated_by work_pool_name status enforce_parameter_schema"
        ),
        "flow_runs": _keys(
            f"{_BASE} name flow_id state_id deployment_id deployment_version work_queue_id "
            "work_queue_name flow_version parameters idempotency_key context empirical_policy tags "
            "parent_task_run_id state_type state_name run_count expected_start_time "
            "next_scheduled_start_time start_time end_time total_run_time estimated_run_time "
            "estimated_start_time_delta auto_scheduled infrastructure_document_id infrastructure_pid "
            "created_by work_pool_id work_pool_name state job_variables"
        ),
    },
    "3.x": {
        "flows": _keys(f"{_BASE} name tags labels"),
        "work_pools": _keys(
            f"{_BASE} name description type base_job_template is_paused concurrency_limit status "
            "default_queue_id storage_configuration active_slots"
        ),
        "work_queues": _keys(
            f"{_BASE} name description is_paused concurrency_limit priority work_pool_id filter "
            "last_polled work_pool_name status active_slots"
        ),
        "deployments": _keys(
            f"{_BASE} name version description flow_id paused schedules concurrency_limit "
            "global_concurrency_limit concurrency_options job_variables parameters tags labels "
            "work_queue_name work_queue_id last_polled parameter_openapi_schema path pull_steps "
            "entrypoint storage_document_id infrastructure_document_id created_by updated_by "
            "work_pool_name status enforce_parameter_schema"
        ),
        "flow_runs": _keys(
            f"{_BASE} name flow_id state_id deployment_id deployment_version work_queue_id "
            "work_queue_name flow_version parameters idempotency_key context empirical_policy tags "
            "labels parent_task_run_id state_type state_name run_count expected_start_time "
            "next_scheduled_start_time start_time end_time total_run_time estimated_run_time "
            "estimated_start_time_delta auto_scheduled infrastructure_document_id infrastructure_pid "
            "created_by work_pool_id work_pool_name state job_variables"
        ),
        "task_runs": _keys(
            f"{_BASE} name flow_run_id task_key dynamic_key cache_key cache_expiration task_version "
            "empirical_policy tags labels state_id task_inputs state_type state_name run_count "
            "flow_run_run_count expected_start_time next_scheduled_start_time start_time end_time "
            "total_run_time estimated_run_time estimated_start_time_delta state"
        ),
    },
}
"""The fields of each release's ``POST /api/<kind>/filter`` bodies, in Prefect's order."""
for _older, _newer in zip(list(RELEASES), list(RELEASES)[1:], strict=False):
    BODY_KEYS[_newer] = BODY_KEYS[_older] | BODY_KEYS[_newer]  # unchanged kinds carry over

STATE_KEYS = _keys("id type name timestamp message data state_details")
"""A run's nested ``state`` (every release)."""

SCHEDULE_KEYS: dict[str, tuple[str, ...]] = {
    "2.20": _keys(f"{_BASE} deployment_id schedule active max_active_runs max_scheduled_runs catchup"),
    "3.x": _keys(f"{_BASE} deployment_id schedule active max_scheduled_runs parameters slug"),
}
"""The fields of a deployment's ``schedules`` items (releases that have them)."""


def release_of_bodies(kind: str, bodies: Iterable[Mapping[str, Any]]) -> str:
    """The release whose ``kind`` bodies have the fields these have (the oldest on a tie).

    Examples
    --------
    >>> release_of_bodies("flows", [{"id": "x", "name": "etl", "tags": [], "labels": {}}])
    '3.x'
    >>> release_of_bodies("deployments", [{"id": "x", "schedule": None, "is_schedule_active": True}])
    '2.10'
    """
    keys: set[str] = set()
    for body in bodies:
        keys |= set(body)
    if not keys:
        return next(iter(RELEASES))

    def score(release: str) -> int:
        fields = set(BODY_KEYS[release].get(kind, ()))
        return len(keys & fields) - len(fields - keys)

    return max(RELEASES, key=lambda r: (score(r), -list(RELEASES).index(r)))


def newest(releases: Iterable[str]) -> str:
    """The newest of some release series (2.10 when there are none)."""
    order = list(RELEASES)
    return max(releases, key=order.index, default=order[0])
