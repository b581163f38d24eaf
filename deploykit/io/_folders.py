"""The output folder of an export."""

from __future__ import annotations

import os
from pathlib import Path


def output_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` as a Path, created with its parents if missing.

    A path that is (or lies under) something other than a folder is a ``ValueError``
    naming it, instead of a bare ``FileExistsError`` / ``NotADirectoryError``.
    """
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(
            f"{out}: exists and is not a folder (or lies under a file); export to a folder"
        ) from None
    return out
