"""Upgrading store files written by older deploykit versions, step by step, in one transaction.

``MIGRATIONS[v]`` is the SQL that takes a store from schema ``v`` to ``v + 1``. Opening an
older file writable runs every step from its version up to ``SCHEMA_VERSION`` inside one
transaction (all applied or none: a failure or a crash leaves the file at its old
version) and records the upgrade in ``deploykit_history``.

History of the schema:

1. The first released schema: ``deploykit_meta`` plus the six data tables.
2. Adds ``deploykit_history`` (which deploykit created or migrated the file, and when).
   An index on ``flow_run(deployment_id)`` was measured instead and rejected: on 3
   million runs DuckDB still scans for ``delete_deployment``'s delete and the EXISTS
   filters (its ART indexes serve only plain point lookups) while inserts got slower.
3. Adds the index ``deployment_name`` on ``deployment (name)``: ``read_deployment_by_name``
   is such a plain point lookup (DuckDB does not use the ``(flow_id, name)`` key's index
   for a filter on both columns). At 100,000 deployments it takes the read from 2.6 ms
   to 0.9 ms; a 100k-row upsert is no slower.
4. The data model of every Prefect release (SPEC.md section 6): table
   ``deployment_schedule`` (each deployment's ``schedule`` moves there as one active
   schedule; ``paused`` = NOT ``is_schedule_active``; both columns are dropped), the later
   releases' fields on every table and ``extra``. DuckDB cannot alter a table that a
   foreign key references, so the data tables are copied aside, re-created from
   ``TABLE_DDL`` and filled back by column name.
5. The run-history rollups (``deploykit.store._rollups``): per-deployment and per-day
   summaries of the runs that ``deploykit.history`` reads instead of every run, computed
   here from the stored runs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import duckdb

from deploykit.store._ddl import INDEX_DDL, SCHEMA_VERSION, STORED_TABLES, TABLE_DDL, TABLES
from deploykit.store._rollups import BUILD_SQL, ROLLUP_DDL

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE deploykit_history (
        happened TIMESTAMPTZ NOT NULL,
        event VARCHAR NOT NULL,
        schema_version INTEGER NOT NULL,
        deploykit_version VARCHAR NOT NULL
    );
    """,
    2: "CREATE INDEX deployment_name ON deployment (name);",
}
"""SQL taking schema ``key`` to ``key + 1``; one entry per version below ``SCHEMA_VERSION``."""


def _to_schema_4() -> str:
    """Schema 3 -> 4: copy the six tables aside, re-create them, fill them back, move schedules."""
    aside = "".join(f"CREATE TEMP TABLE _v3_{t} AS SELECT * FROM {t};\n" for t in TABLES)
    dropped = "DROP INDEX deployment_name;\n" + "".join(f"DROP TABLE {t};\n" for t in reversed(TABLES))
    created = "".join(TABLE_DDL[t] + "\n" for t in STORED_TABLES)
    filled = []
    for table in TABLES:
        if table == "deployment":
            filled.append(
                "INSERT INTO deployment BY NAME SELECT * EXCLUDE (schedule, is_schedule_active), "
                "NOT is_schedule_active AS paused FROM _v3_deployment;\n"
                "INSERT INTO deployment_schedule BY NAME SELECT uuid() AS id, created, updated, "
                "id AS deployment_id, schedule, true AS active, '{}' AS parameters "
                "FROM _v3_deployment WHERE schedule IS NOT NULL ORDER BY id;\n"
            )
        else:
            filled.append(f"INSERT INTO {table} BY NAME SELECT * FROM _v3_{table};\n")
    cleared = "".join(f"DROP TABLE _v3_{t};\n" for t in TABLES)
    return aside + dropped + created + "".join(filled) + cleared + INDEX_DDL


MIGRATIONS[3] = _to_schema_4()
MIGRATIONS[4] = ROLLUP_DDL + BUILD_SQL


def deploykit_version() -> str:
    """The installed deploykit's version, as recorded in ``deploykit_history``.

    Examples
    --------
    >>> deploykit_version() != ""
    True
    """
    try:
        return version("deploykit")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def record(cur: duckdb.DuckDBPyConnection, event: str) -> None:
    """Append ``event`` at the current schema version to ``deploykit_history``."""
    cur.execute(
        "INSERT INTO deploykit_history VALUES (now(), $event, $schema, $version)",
        {"event": event, "schema": SCHEMA_VERSION, "version": deploykit_version()},
    )


def migrate(cur: duckdb.DuckDBPyConnection, from_version: int) -> None:
    """Run every migration from ``from_version`` to ``SCHEMA_VERSION`` on ``cur``.

    The caller owns the transaction: this only issues statements, so a failure part way
    is rolled back with everything else.

    Examples
    --------
    >>> sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))
    True
    """
    missing = [v for v in range(from_version, SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        raise RuntimeError(f"no migration from schema {missing[0]}")  # a packaging bug
    for step in range(from_version, SCHEMA_VERSION):
        cur.execute(MIGRATIONS[step])
    cur.execute(
        "UPDATE deploykit_meta SET value = $v WHERE key = 'schema_version'",
        {"v": str(SCHEMA_VERSION)},
    )
    record(cur, f"migrated from schema {from_version}")
