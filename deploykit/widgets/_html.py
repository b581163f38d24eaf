"""HTML fragments for the widgets: every piece of user text is escaped here.

Widgets never build markup from user data themselves; they call :func:`table`,
:func:`error_box`, :func:`note` or :func:`code_block`, which escape all values, so a
description like ``<img src=x onerror=alert(1)>`` is shown as text, never run.
"""

from __future__ import annotations

import html
import json
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import ipywidgets as widgets
import polars as pl

W = TypeVar("W", bound=widgets.DOMWidget)

_TABLE_STYLE = "border-collapse:collapse;font-size:12px;font-family:var(--jp-ui-font-family,sans-serif)"
_CELL_STYLE = "border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"
_HEAD_STYLE = _CELL_STYLE + ";background:#f3f3f3"
_ERROR_STYLE = (
    "border:1px solid #d62728;background:#fdecea;color:#8a1c1c;padding:6px 10px;"
    "border-radius:4px;white-space:pre-wrap;font-family:monospace"
)


def escape(value: Any) -> str:
    """``value`` as display text, HTML-escaped (quotes included).

    Examples
    --------
    >>> escape("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(_text(value), quote=True)


def table(frame: pl.DataFrame, *, css_class: str = "dk-table", empty: str = "No rows.") -> str:
    """An HTML table of ``frame`` (column names as headers), every cell escaped.

    Lists are joined with commas, booleans shown as a check or cross, datetimes in ISO
    form without microseconds, ``None`` as an empty cell.

    Examples
    --------
    >>> table(pl.DataFrame({"name": ["<b>"], "tags": [["a", "b"]], "ok": [True]}))
    '<table class="dk-table" ...><th ...>name</th>...<td ...>&lt;b&gt;</td><td ...>a, b</td><td ...>✓</td>...'
    """
    if frame.is_empty():
        return note(empty)
    head = "".join(f'<th style="{_HEAD_STYLE}">{escape(c)}</th>' for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL_STYLE}">{escape(v)}</td>' for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return (
        f'<table class="{escape(css_class)}" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def fields(items: Mapping[str, Any], *, css_class: str = "dk-details") -> str:
    """A two-column table of labelled values (labels and values escaped).

    Examples
    --------
    >>> fields({"description": "<script>"})
    '<table class="dk-details" ...><th ...>description</th><td ...>&lt;script&gt;</td>...'
    """
    rows = "".join(
        f'<tr><th style="{_HEAD_STYLE}">{escape(k)}</th><td style="{_CELL_STYLE}">{escape(v)}</td></tr>'
        for k, v in items.items()
    )
    return f'<table class="{escape(css_class)}" style="{_TABLE_STYLE}">{rows}</table>'


def error_box(message: str) -> str:
    """A red box holding ``message`` (escaped): how widgets report invalid input.

    Examples
    --------
    >>> error_box("bad <cron>")
    '<div class="dk-error" ...>bad &lt;cron&gt;</div>'
    """
    return f'<div class="dk-error" role="alert" style="{_ERROR_STYLE}">{escape(message)}</div>'


def note(message: str, *, css_class: str = "dk-note") -> str:
    """A line of plain (escaped) text.

    Examples
    --------
    >>> note("3 of 240 deployments")
    '<div class="dk-note">3 of 240 deployments</div>'
    """
    return f'<div class="{escape(css_class)}">{escape(message)}</div>'


def code_block(source: str) -> str:
    """Python source in a ``<pre>`` block (escaped), ready to copy.

    Examples
    --------
    >>> code_block("f(x='<a>')")
    '<pre class="dk-code" ...>f(x=&#x27;&lt;a&gt;&#x27;)</pre>'
    """
    style = "background:#f7f7f7;padding:6px;font-size:12px;white-space:pre-wrap"
    return f'<pre class="dk-code" style="{style}">{escape(source)}</pre>'


def show_png(image: widgets.Image, png: bytes) -> None:
    """Put ``png`` into ``image`` at its natural pixel width (front-ends would stretch it).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from deploykit.plots import to_png
    >>> image = widgets.Image()
    >>> show_png(image, to_png(Figure(figsize=(2, 1)), dpi=50))
    >>> image.layout.width  # 2 in x 50 dpi, plus the tight bounding box padding
    '110px'
    """
    width = struct.unpack(">I", png[16:20])[0]  # the IHDR chunk's width field
    image.value = png
    image.layout.width = f"{width}px"
    image.layout.max_width = "100%"
    image.layout.display = None


def styled(widget: W, css: str) -> W:
    """``widget`` with the CSS class ``css``: the name the page's style and the browser tests
    select it by.

    Examples
    --------
    >>> styled(widgets.HTML(), "dk-summary")._dom_classes
    ('dk-summary',)
    """
    widget.add_class(css)
    return widget


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, Mapping):
        return json.dumps(value, indent=1, sort_keys=True, default=str)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(_text(v) for v in value)
    return str(value)
