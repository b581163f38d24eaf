"""Notebook widgets (ipywidgets 8): thin views over deploykit's models and filters.

- :class:`DeploymentBrowser`: filter, sort and page through deployments; details of one.
- :class:`SchedulePreview`: a schedule in words, its upcoming runs, fleet load.
- :class:`QueueMatchInspector`: which work queues pick a deployment up, and why not.
- :class:`RunHistory`: deployment health, and one deployment's durations, states and lateness.

Each widget exposes its state and results as attributes (DataFrames, figures), so it
can be driven and checked from Python without a front-end.
"""

from deploykit._extras import missing_extra

try:
    import ipywidgets as _ipywidgets  # noqa: F401 - fail here, with the extra's name
    import matplotlib as _matplotlib  # noqa: F401
except ImportError as _exc:
    raise missing_extra("deploykit.widgets", "widgets", _exc) from _exc

from deploykit.widgets._browser import DeploymentBrowser, browser_filters
from deploykit.widgets._history import RunHistory
from deploykit.widgets._queues import QueueMatchInspector, queue_matrix, verdict_summary
from deploykit.widgets._schedule import SchedulePreview

__all__ = [
    "DeploymentBrowser",
    "QueueMatchInspector",
    "RunHistory",
    "SchedulePreview",
    "browser_filters",
    "queue_matrix",
    "verdict_summary",
]
