"""The store's tables: keys, uniqueness and foreign keys as SPEC.md sections 1 and 6 state.

Dicts and pydantic sub-models are JSON text; tag lists are ``VARCHAR[]``; every
timestamp is ``TIMESTAMPTZ`` in UTC. Every entity table ends with ``extra``: the JSON
object of the source fields deploykit does not model (a newer Prefect's, say), kept
verbatim so that an export gives back what was imported.

DuckDB cannot update a row that a foreign key references when the row has a list
column (it rewrites such rows as delete + insert). ``flow``, ``deployment`` and
``flow_run`` carry tag lists and must stay updatable (imports upsert them), so
references *to* them (``deployment.flow_id``, ``deployment_schedule.deployment_id``,
``flow_run.flow_id``, ``task_run.flow_run_id``) are checked by the operations inside
their transaction and by ``Store.check_integrity``; the references to pools and queues
are DuckDB foreign keys.

Deployments hold their schedules in ``deployment_schedule`` (many per deployment, as
Prefect from 2.18 on); Prefect 2.10's ``schedule`` / ``is_schedule_active`` are views
of it and of ``deployment.paused`` (SPEC.md section 6).

``deploykit_meta`` holds the ``schema_version``; ``deploykit_history`` (schema 2) logs
which deploykit created the file and which migrated it, and when: a store kept for
months says where it came from.
"""

from __future__ import annotations

from deploykit.store._rollups import ROLLUP_DDL

SCHEMA_VERSION = 5
"""Bumped whenever the DDL below changes; older files are migrated on open
(``deploykit.store._migrations``). Version 2 added ``deploykit_history``, version 3 the
``deployment_name`` index, version 4 the data model of every Prefect release
(``deployment_schedule``, ``paused`` and the later releases' fields, ``extra``), version
5 the run-history rollups (``deploykit.store._rollups``)."""

TABLES: tuple[str, ...] = ("flow", "work_pool", "work_queue", "deployment", "flow_run", "task_run")
"""The tables of the six entities of SPEC.md section 1."""

STORED_TABLES: tuple[str, ...] = (*TABLES[:4], "deployment_schedule", *TABLES[4:])
"""Every data table, parents before children: the six entities and ``deployment_schedule``."""

META_DDL = """
CREATE TABLE deploykit_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE deploykit_history (
    happened TIMESTAMPTZ NOT NULL,
    event VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL,
    deploykit_version VARCHAR NOT NULL
);
"""

TABLE_DDL: dict[str, str] = {
    "flow": """
CREATE TABLE flow (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL UNIQUE,
    tags VARCHAR[] NOT NULL,
    labels VARCHAR,
    extra VARCHAR
);""",
    "work_pool": """
CREATE TABLE work_pool (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL UNIQUE,
    type VARCHAR NOT NULL,
    description VARCHAR,
    is_paused BOOLEAN NOT NULL,
    concurrency_limit INTEGER CHECK (concurrency_limit >= 0),
    default_queue_id UUID,
    base_job_template VARCHAR NOT NULL,
    status VARCHAR,
    storage_configuration VARCHAR,
    extra VARCHAR
);""",
    "work_queue": """
CREATE TABLE work_queue (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    work_pool_id UUID NOT NULL REFERENCES work_pool (id),
    description VARCHAR,
    is_paused BOOLEAN NOT NULL,
    concurrency_limit INTEGER CHECK (concurrency_limit >= 0),
    priority INTEGER NOT NULL CHECK (priority >= 1),
    filter VARCHAR,
    last_polled TIMESTAMPTZ,
    status VARCHAR,
    extra VARCHAR,
    UNIQUE (work_pool_id, name)
);""",
    "deployment": """
CREATE TABLE deployment (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    flow_id UUID NOT NULL,
    version VARCHAR,
    description VARCHAR,
    paused BOOLEAN NOT NULL,
    infra_overrides VARCHAR NOT NULL,
    parameters VARCHAR NOT NULL,
    pull_steps VARCHAR,
    tags VARCHAR[] NOT NULL,
    work_queue_name VARCHAR,
    work_queue_id UUID REFERENCES work_queue (id),
    parameter_openapi_schema VARCHAR,
    path VARCHAR,
    entrypoint VARCHAR,
    manifest_path VARCHAR,
    storage_document_id UUID,
    infrastructure_document_id UUID,
    flow_runner VARCHAR,
    created_by VARCHAR,
    updated_by VARCHAR,
    concurrency_limit INTEGER CHECK (concurrency_limit >= 0),
    status VARCHAR,
    last_polled TIMESTAMPTZ,
    enforce_parameter_schema BOOLEAN,
    labels VARCHAR,
    extra VARCHAR,
    UNIQUE (flow_id, name)
);""",
    "deployment_schedule": """
CREATE TABLE deployment_schedule (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    deployment_id UUID NOT NULL,
    schedule VARCHAR NOT NULL,
    active BOOLEAN NOT NULL,
    max_scheduled_runs INTEGER CHECK (max_scheduled_runs > 0),
    parameters VARCHAR NOT NULL,
    slug VARCHAR,
    extra VARCHAR
);""",
    "flow_run": """
CREATE TABLE flow_run (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    flow_id UUID NOT NULL,
    deployment_id UUID,
    work_queue_name VARCHAR,
    work_queue_id UUID,
    flow_version VARCHAR,
    parameters VARCHAR NOT NULL,
    idempotency_key VARCHAR,
    tags VARCHAR[] NOT NULL,
    parent_task_run_id UUID,
    state_type VARCHAR,
    state_name VARCHAR,
    state_message VARCHAR,
    state_timestamp TIMESTAMPTZ,
    scheduled_time TIMESTAMPTZ,
    expected_start_time TIMESTAMPTZ,
    next_scheduled_start_time TIMESTAMPTZ,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    auto_scheduled BOOLEAN NOT NULL,
    infrastructure_document_id UUID,
    run_count INTEGER,
    total_run_time DOUBLE,
    estimated_run_time DOUBLE,
    estimated_start_time_delta DOUBLE,
    state_id UUID,
    state_details VARCHAR,
    empirical_policy VARCHAR,
    job_variables VARCHAR,
    labels VARCHAR,
    created_by VARCHAR,
    infrastructure_pid VARCHAR,
    deployment_version VARCHAR,
    extra VARCHAR,
    UNIQUE (flow_id, idempotency_key)
);""",
    "task_run": """
CREATE TABLE task_run (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    flow_run_id UUID NOT NULL,
    task_key VARCHAR NOT NULL,
    dynamic_key VARCHAR NOT NULL,
    tags VARCHAR[] NOT NULL,
    state_type VARCHAR,
    state_name VARCHAR,
    state_timestamp TIMESTAMPTZ,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    task_version VARCHAR,
    task_inputs VARCHAR,
    cache_key VARCHAR,
    cache_expiration TIMESTAMPTZ,
    run_count INTEGER,
    total_run_time DOUBLE,
    flow_run_run_count INTEGER,
    empirical_policy VARCHAR,
    state_id UUID,
    state_message VARCHAR,
    state_details VARCHAR,
    expected_start_time TIMESTAMPTZ,
    estimated_run_time DOUBLE,
    labels VARCHAR,
    extra VARCHAR,
    UNIQUE (flow_run_id, task_key, dynamic_key)
);""",
}
"""``CREATE TABLE`` of each data table (the migration to schema 4 re-creates them from these)."""

INDEX_DDL = """
CREATE INDEX deployment_name ON deployment (name);
CREATE INDEX deployment_schedule_deployment ON deployment_schedule (deployment_id);
"""

DDL = META_DDL + "".join(TABLE_DDL[t] for t in STORED_TABLES) + "\n" + INDEX_DDL + ROLLUP_DDL
"""The whole schema of a new store."""

TABLE_SOURCES: dict[str, str] = {
    "deployment": (
        "SELECT d.*, NOT d.paused AS is_schedule_active, "
        "(SELECT CASE WHEN count(*) = 1 THEN any_value(s.schedule) END FROM deployment_schedule AS s "
        "WHERE s.deployment_id = d.id) AS schedule FROM deployment AS d"
    ),
}
"""What ``Store.table`` reads for a table when it is more than ``FROM table``: deployments
with Prefect 2.10's views ``is_schedule_active`` (not paused) and ``schedule`` (the one
schedule, else null), as they were columns before schema 4."""
