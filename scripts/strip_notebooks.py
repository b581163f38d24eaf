#!/usr/bin/env python
"""Strip outputs, execution counts and widget state from notebooks before committing.

Usage::

    python scripts/strip_notebooks.py            # strip notebooks/ and tests/e2e/ in place
    python scripts/strip_notebooks.py --check    # exit 1, listing files that need stripping
    python scripts/strip_notebooks.py a.ipynb    # only these files

Outputs hold run-specific data (timestamps, PNGs, widget ids); keeping them out of git
keeps diffs readable and makes ``pytest --nbval-lax`` the only judge of the results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GLOBS = ("notebooks/*.ipynb", "tests/e2e/*.ipynb")
_VOLATILE_METADATA = ("widgets", "execution", "collapsed", "scrolled")


def stripped(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without outputs, execution counts or volatile metadata."""
    clean = nbformat.from_dict(notebook)
    for key in _VOLATILE_METADATA:
        clean.metadata.pop(key, None)
    for cell in clean.cells:
        for key in _VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return clean


def needs_stripping(path: Path) -> bool:
    """Whether the file on disk differs from its stripped form."""
    notebook = nbformat.read(path, as_version=4)
    return stripped(notebook) != notebook


def main(argv: list[str] | None = None) -> int:
    """Strip the given notebooks (default: the project's); ``--check`` only reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(p for pattern in DEFAULT_GLOBS for p in ROOT.glob(pattern))
    dirty = [p for p in paths if needs_stripping(p)]
    for path in dirty:
        if args.check:
            print(f"{path}: has outputs; run python scripts/strip_notebooks.py", file=sys.stderr)
        else:
            nbformat.write(stripped(nbformat.read(path, as_version=4)), path)
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
