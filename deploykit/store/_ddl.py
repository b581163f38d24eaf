"""The store's tables: keys, uniqueness and foreign keys as SPEC.md section 1 states.

Dicts and pydantic sub-models are JSON text; tag lists are ``VARCHAR[]``; every
timestamp is ``TIMESTAMPTZ`` in UTC.

DuckDB cannot update a row that a foreign key references when the row has a list
column (it rewrites such rows as delete + insert). ``flow`` and ``flow_run`` carry tag
lists and must stay updatable (imports upsert them), so references *to* them
(``deployment.flow_id``, ``flow_run.flow_id``, ``task_run.flow_run_id``) are checked by
the operations inside their transaction and by ``Store.check_integrity``; the
references to pools and queues are DuckDB foreign keys.

``deploykit_meta`` holds the ``schema_version``; ``deploykit_history`` (schema 2) logs
which deploykit created the file and which migrated it, and when: a store kept for
months says where it came from.
"""

from __future__ import annotations

SCHEMA_VERSION = 3
"""Bumped whenever the DDL below changes; older files are migrated on open
(``deploykit.store._migrations``). Version 2 added ``deploykit_history``, version 3 the
``deployment_name`` index."""

TABLES: tuple[str, ...] = ("flow", "work_pool", "work_queue", "deployment", "flow_run", "task_run")

DDL = """
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
CREATE TABLE flow (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL UNIQUE,
    tags VARCHAR[] NOT NULL
);
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
    base_job_template VARCHAR NOT NULL
);
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
    UNIQUE (work_pool_id, name)
);
CREATE TABLE deployment (
    id UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    flow_id UUID NOT NULL,
    version VARCHAR,
    description VARCHAR,
    schedule VARCHAR,
    is_schedule_active BOOLEAN NOT NULL,
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
    UNIQUE (flow_id, name)
);
CREATE INDEX deployment_name ON deployment (name);
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
    UNIQUE (flow_id, idempotency_key)
);
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
    UNIQUE (flow_run_id, task_key, dynamic_key)
);
"""
