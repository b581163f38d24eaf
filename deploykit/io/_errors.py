"""The errors of :mod:`deploykit.io`: what went wrong with which file, row or URL."""

from __future__ import annotations

from deploykit._errors import DeploykitError


class SourceError(DeploykitError, ValueError):
    """An import source is unreadable or malformed (bad JSON, wrong kind, foreign database).

    The message names the file (and the row id, when one row is at fault).
    """


class FetchError(DeploykitError):
    """A Prefect server could not be read (unreachable, refused the key, kept failing).

    The message names the URL and the problem.
    """
