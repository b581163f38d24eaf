"""deploykit: Prefect 2.10 deployment operations on an embedded DuckDB store, with Polars.

Import everything from here::

    import deploykit as dk
    store = dk.Store()
    dk.models.deployments.read_deployments(store, deployment_filter=dk.DeploymentFilter(...))
"""

from deploykit import models
from deploykit._errors import (
    DeploykitError,
    FetchError,
    IntegrityError,
    ObjectNotFoundError,
    SourceError,
    StoreError,
)
from deploykit.schemas import *  # noqa: F403 - the public schemas and filters
from deploykit.schemas import __all__ as _schema_names
from deploykit.schemas.frames import to_models
from deploykit.store import ScheduleSettings, Store

__version__ = "0.1.0"

__all__ = [
    "DeploykitError",
    "FetchError",
    "IntegrityError",
    "ObjectNotFoundError",
    "ScheduleSettings",
    "SourceError",
    "Store",
    "StoreError",
    "__version__",
    "models",
    "to_models",
    *_schema_names,
]
