"""deploykit: Prefect 2.10 deployment operations on an embedded DuckDB store, with Polars.

Import everything from here::

    import deploykit as dk
    store = dk.Store()
    dk.models.deployments.read_deployments(store, deployment_filter=dk.DeploymentFilter(...))

Names are loaded on first use (PEP 562 ``__getattr__``): ``import deploykit`` costs
milliseconds, so the ``deploykit`` command starts fast; Polars, DuckDB and pydantic load
when the first store, schema or operation is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads these
    from deploykit import models  # noqa: F401
    from deploykit._errors import (  # noqa: F401
        DeploykitError,
        FetchError,
        IntegrityError,
        ObjectNotFoundError,
        ScheduleSkippedWarning,
        SourceError,
        StoreError,
    )
    from deploykit.schemas import *  # noqa: F403
    from deploykit.schemas.frames import to_models  # noqa: F401
    from deploykit.store import ScheduleSettings, Store  # noqa: F401

from deploykit._version import __version__ as __version__

_HOMES = {
    "DeploykitError": "deploykit._errors",
    "FetchError": "deploykit._errors",
    "SourceError": "deploykit._errors",
    "IntegrityError": "deploykit._errors",
    "ObjectNotFoundError": "deploykit._errors",
    "ScheduleSkippedWarning": "deploykit._errors",
    "StoreError": "deploykit._errors",
    "ScheduleSettings": "deploykit.store",
    "Store": "deploykit.store",
    "to_models": "deploykit.schemas.frames",
}
"""Where each public name that is not a schema lives."""
_SUBPACKAGES = frozenset(
    {
        "calendar",
        "cli",
        "filters",
        "history",
        "io",
        "models",
        "plots",
        "predicates",
        "scheduling",
        "schemas",
        "store",
        "widgets",
    }
)


def _public_names() -> list[str]:
    schemas = importlib.import_module("deploykit.schemas")
    return sorted({*_HOMES, "__version__", "models", *schemas.__all__})


def __getattr__(name: str) -> Any:
    """Load a public name, or a subpackage, on first access."""
    if name == "__all__":
        value: Any = _public_names()
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"deploykit.{name}")
    elif name.startswith("_"):
        raise AttributeError(f"module 'deploykit' has no attribute {name!r}")
    else:
        schemas = importlib.import_module("deploykit.schemas")
        if name not in schemas.__all__:
            raise AttributeError(f"module 'deploykit' has no attribute {name!r}")
        value = getattr(schemas, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_public_names()})
