"""The embedded DuckDB store: connection, transactions, DDL, catalog and migrations (layer 3).

Public here: :class:`Store` and :class:`ScheduleSettings` for users; for the layers above
(models, io), the store's DDL facts (``TABLES``, ``STORED_TABLES``, ``SCHEMA_VERSION``) and what the bulk
writers read from DuckDB's catalog (``Column``, ``table_columns``, ``rewritten_columns``), and
the run-history rollups' SQL (``REFRESH_SQL`` and the expressions the history readers share).
The modules beneath (``_connection``, ``_ddl``, ``_catalog``, ``_migrations``) are private.
"""

from deploykit._public import present_as_deploykit
from deploykit.store._catalog import Column, rewritten_columns, table_columns
from deploykit.store._ddl import SCHEMA_VERSION, STORED_TABLES, TABLES
from deploykit.store._rollups import (
    BUILD_SQL,
    DAY_US,
    DURATION_SQL,
    ORDER_KEY,
    REFRESH_SQL,
    STATE_AGGREGATES,
    STREAK_SQL,
    day_sql,
)
from deploykit.store._store import ScheduleSettings, Store

__all__ = [
    "BUILD_SQL",
    "DAY_US",
    "DURATION_SQL",
    "ORDER_KEY",
    "REFRESH_SQL",
    "SCHEMA_VERSION",
    "STATE_AGGREGATES",
    "STORED_TABLES",
    "STREAK_SQL",
    "TABLES",
    "Column",
    "ScheduleSettings",
    "Store",
    "day_sql",
    "rewritten_columns",
    "table_columns",
]

present_as_deploykit(globals(), ["ScheduleSettings", "Store"])
