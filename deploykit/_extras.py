"""Optional dependencies: the message when a view's extra is not installed (as httpx does)."""

from __future__ import annotations


def missing_extra(feature: str, extra: str, exc: ImportError) -> ImportError:
    """An ImportError naming the missing package and the extra that installs it.

    Examples
    --------
    >>> print(missing_extra("deploykit.plots", "widgets", ModuleNotFoundError(name="matplotlib")))
    deploykit.plots needs matplotlib, which is not installed: pip install 'deploykit[widgets]'
    """
    error = ImportError(
        f"{feature} needs {exc.name or 'an optional package'}, which is not installed: "
        f"pip install 'deploykit[{extra}]'"
    )
    error.name = exc.name
    return error
