"""The embedded DuckDB store: connection, transactions, DDL, catalog and migrations (layer 3).

Public here: :class:`Store` and :class:`ScheduleSettings` for users; for the layers above
(models, io), the store's DDL facts (``TABLES``, ``STORED_TABLES``, ``SCHEMA_VERSION``) and what the bulk
writers read from DuckDB's catalog (``Column``, ``table_columns``, ``rewritten_columns``).
The modules beneath (``_connection``, ``_ddl``, ``_catalog``, ``_migrations``) are private.
"""

from deploykit.store._catalog import Column, rewritten_columns, table_columns
from deploykit.store._ddl import SCHEMA_VERSION, STORED_TABLES, TABLES
from deploykit.store._store import ScheduleSettings, Store

__all__ = [
    "SCHEMA_VERSION",
    "STORED_TABLES",
    "TABLES",
    "Column",
    "ScheduleSettings",
    "Store",
    "rewritten_columns",
    "table_columns",
]
