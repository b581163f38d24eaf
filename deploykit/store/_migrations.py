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
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import duckdb

from deploykit.store._ddl import SCHEMA_VERSION

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
    >>> import duckdb
    >>> from deploykit.store._ddl import DDL
    >>> con = duckdb.connect()
    >>> _ = con.execute(DDL + "DROP TABLE deploykit_history; DROP INDEX deployment_name")  # schema 1
    >>> _ = con.execute("INSERT INTO deploykit_meta VALUES ('schema_version', '1')")
    >>> migrate(con, 1)
    >>> con.execute("SELECT value FROM deploykit_meta").fetchall()
    [('3',)]
    >>> con.execute("SELECT event, schema_version FROM deploykit_history").fetchall()
    [('migrated from schema 1', 3)]
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
