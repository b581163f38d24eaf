"""Pull deployments, runs, pools and queues from a running Prefect server or Prefect Cloud."""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import quote

import httpx
from tqdm.auto import tqdm

from deploykit._errors import FetchError, SourceError
from deploykit.io._prefect_api import KIND_TABLES, check_bodies, load_bodies
from deploykit.io._report import ImportReport
from deploykit.store import Store

_RETRIED = frozenset({429, 500, 502, 503, 504})
_MAX_WAIT = 30.0


class _Client:
    """POSTs with retries: exponential backoff on 429/5xx and connection errors."""

    def __init__(self, http: httpx.Client, url: str, retries: int, backoff: float):
        self.http = http
        self.url = url
        self.retries = retries
        self.backoff = backoff

    def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self.backoff * 2**attempt
        header = response.headers.get("Retry-After") if response is not None else None
        if header is not None:
            with contextlib.suppress(ValueError):
                delay = float(header)
        time.sleep(min(delay, _MAX_WAIT))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer of ``POST {url}{path}``; :class:`FetchError` when it cannot be had."""
        target = f"{self.url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.post(target, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise FetchError(
                        f"{target}: cannot reach the Prefect API after {attempt + 1} "
                        f"attempt(s): {exc or type(exc).__name__}"
                    ) from None
                self._wait(attempt, None)
                continue
            if response.status_code in (401, 403):
                raise FetchError(
                    f"{target}: the server refused the credentials (HTTP {response.status_code});"
                    " check the API key"
                )
            if response.status_code in _RETRIED and not last:
                self._wait(attempt, response)
                continue
            if response.is_error:
                raise FetchError(
                    f"{target}: HTTP {response.status_code} after {attempt + 1} attempt(s): "
                    f"{response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError:
                raise FetchError(f"{target}: the answer is not JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def collect(self, path: str, kind: str, page_size: int, bar: tqdm) -> list[dict[str, Any]]:
        """Every object of a ``/filter`` endpoint, page by page until a short page."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.post(path, {"offset": len(rows), "limit": page_size})
            try:
                _, objects = check_bodies(f"{self.url}{path}", page, kind)
            except SourceError as exc:
                raise FetchError(str(exc)) from None
            rows.extend(objects)
            bar.update(len(objects))
            if len(objects) < page_size:
                return rows


def fetch_prefect(
    store: Store,
    api_url: str,
    api_key: str | None = None,
    *,
    page_size: int = 200,
    timeout: float = 30,
    retries: int = 5,
    backoff: float = 0.5,
    progress: bool | None = None,
) -> ImportReport:
    """Import everything a Prefect server (or Prefect Cloud workspace) serves at ``api_url``.

    Reads ``POST {api_url}/<kind>/filter`` for flows, work pools, work queues,
    deployments, flow runs and task runs, and ``/work_pools/<name>/queues/filter`` for
    each pool, ``page_size`` objects at a time (``offset``/``limit``) until a short
    page, then imports the bodies as :func:`import_prefect_api` does (one transaction,
    upsert by id). Nothing is written unless every page was read.

    Parameters
    ----------
    store
        The store to import into.
    api_url
        The API root, e.g. ``http://127.0.0.1:4200/api`` or a Cloud workspace URL
        ``https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>``.
    api_key
        Sent as ``Authorization: Bearer <key>`` (Prefect Cloud).
    page_size
        Objects per request.
    timeout
        Seconds per request (connect and read).
    retries
        Extra attempts after a 429, a 5xx or a connection error, waiting
        ``backoff * 2**attempt`` seconds (or the server's ``Retry-After``), at most 30 s.
    backoff
        The first wait, in seconds.
    progress
        Show a progress bar (``None``: only on a terminal or in a notebook).

    Returns
    -------
    ImportReport
        Rows inserted and updated per table.

    Raises
    ------
    FetchError
        The server is unreachable, refuses the key, or keeps failing (message names the URL).

    Examples
    --------
    >>> fetch_prefect(Store(), "http://127.0.0.1:9/api", retries=0, timeout=1, progress=False)
    Traceback (most recent call last):
    ...
    deploykit.FetchError: http://127.0.0.1:9/api/flows/filter: cannot reach ...
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    url = api_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    bodies: list[tuple[str, str, list[dict[str, Any]]]] = []
    disable = None if progress is None else not progress
    with (
        httpx.Client(headers=headers, timeout=timeout) as http,
        tqdm(unit="rows", desc=f"fetch {url}", disable=disable) as bar,
    ):
        client = _Client(http, url, retries, backoff)
        for kind in KIND_TABLES:
            rows = client.collect(f"/{kind}/filter", kind, page_size, bar)
            bodies.append((f"{url}/{kind}/filter", kind, rows))
            if kind == "work_pools":
                for pool in rows:
                    path = f"/work_pools/{quote(pool['name'], safe='')}/queues/filter"
                    queues = client.collect(path, "work_queues", page_size, bar)
                    bodies.append((f"{url}{path}", "work_queues", queues))
    return load_bodies(store, bodies, url)
