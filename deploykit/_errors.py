"""Exceptions raised by deploykit.

Bad input models raise :class:`pydantic.ValidationError`; everything deploykit
raises on its own derives from :class:`DeploykitError`.
"""

from __future__ import annotations


class DeploykitError(Exception):
    """Base class of every error deploykit raises itself."""


class ObjectNotFoundError(DeploykitError, LookupError):
    """A referenced object (deployment, pool, queue, ...) does not exist."""


class IntegrityError(DeploykitError):
    """A write would break the store's integrity (dangling reference, duplicate name)."""


class StoreError(DeploykitError):
    """The store file cannot be used (locked, foreign, corrupt, or from a newer deploykit)."""
