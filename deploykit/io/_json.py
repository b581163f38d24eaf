"""Decode a JSON source file's bytes, refusing what the store could not hold, naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from deploykit._errors import SourceError

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A ``\\uD800``..``\\uDFFF`` escape: a cheap sign that the decoded text may hold a lone surrogate."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json_bytes(path: Path, data: bytes) -> Any:
    """The JSON value of ``data`` (UTF-8, an optional byte-order mark allowed).

    Raises :class:`SourceError` naming ``path`` for text that is not UTF-8 (UTF-16
    included), invalid JSON, nesting too deep for the parser, and strings holding a lone
    UTF-16 surrogate (``"\\ud800"``), which no store column can hold.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = " (it starts with a UTF-16 byte-order mark)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SourceError(
            f"{path}: not UTF-8 text{hint}: invalid byte at offset {exc.start}; save the file as UTF-8"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise SourceError(f"{path}: invalid JSON: nested too deeply to read") from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_surrogates(path, value)
    return value


def _refuse_surrogates(path: Path, value: Any) -> None:
    """Raise naming the first place (``[0].name``) holding a lone surrogate, if any."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if _SURROGATE.search(key):
                    raise SourceError(f"{path}: key {key!r} at {where or '(top)'} holds a lone surrogate")
                stack.append((f"{where}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise SourceError(
                f"{path}: value {item[:40]!r} at {where} holds a lone surrogate (not valid text)"
            )
