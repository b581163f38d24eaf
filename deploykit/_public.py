"""Public classes report module ``deploykit``: the one path users import them from (as httpx does)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def present_as_deploykit(namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__ = "deploykit"`` on the classes among ``names`` in ``namespace``.

    Reprs, tracebacks and pickles then say ``deploykit.Deployment`` instead of a private
    module path; ``deploykit``'s lazy ``__getattr__`` resolves that name again.
    """
    for name in names:
        value = namespace[name]
        if isinstance(value, type):
            value.__module__ = "deploykit"
