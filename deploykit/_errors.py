"""Every exception deploykit raises on its own, in one place (the lowest layer).

Bad input models raise :class:`pydantic.ValidationError`; everything else deploykit
raises derives from :class:`DeploykitError`. Each class reports its module as
``deploykit`` (as httpx does), so reprs and tracebacks show ``deploykit.SourceError``,
the name users import, rather than a private module's path.
"""

from __future__ import annotations

__all__ = [
    "DeploykitError",
    "FetchError",
    "IntegrityError",
    "ObjectNotFoundError",
    "ScheduleSkippedWarning",
    "SourceError",
    "StoreError",
]


class DeploykitError(Exception):
    """Base class of every error deploykit raises itself."""


class ObjectNotFoundError(DeploykitError, LookupError):
    """A referenced object (deployment, pool, queue, ...) does not exist."""


class IntegrityError(DeploykitError):
    """A write would break the store's integrity (dangling reference, duplicate name)."""


class StoreError(DeploykitError):
    """The store file cannot be used: locked, foreign, damaged, read-only, full, or from a
    newer deploykit. The message says which, and what to do."""


class SourceError(DeploykitError, ValueError):
    """An import source is unreadable or malformed (bad JSON, wrong kind, foreign database).

    The message names the file (and the row id, when one row is at fault).
    """


class FetchError(DeploykitError):
    """A Prefect server could not be read (unreachable, refused the key, kept failing).

    The message names the URL and the problem.
    """


class ScheduleSkippedWarning(UserWarning):
    """A fleet operation (``preview_runs``, ``schedule_all``) skipped a deployment whose
    stored schedule cannot be expanded; the message names the deployment and why. The
    other deployments were previewed or scheduled."""


for _cls in (
    DeploykitError,
    ObjectNotFoundError,
    IntegrityError,
    StoreError,
    SourceError,
    FetchError,
    ScheduleSkippedWarning,
):
    _cls.__module__ = "deploykit"
del _cls
