"""Real data in and out: Prefect REST bodies, Prefect server databases, live servers, Parquet."""

from deploykit._errors import FetchError, SourceError
from deploykit.io._export import export_prefect_api
from deploykit.io._fetch import fetch_prefect
from deploykit.io._parquet import export_parquet, import_parquet
from deploykit.io._prefect_api import import_prefect_api
from deploykit.io._prefect_db import import_prefect_db
from deploykit.io._report import ImportReport
from deploykit.io._sync import sync_prefect

__all__ = [
    "FetchError",
    "ImportReport",
    "SourceError",
    "export_parquet",
    "export_prefect_api",
    "fetch_prefect",
    "import_parquet",
    "import_prefect_api",
    "import_prefect_db",
    "sync_prefect",
]
