"""Pull deployments, runs, pools and queues from a running Prefect server or Prefect Cloud.

The server is not trusted: every request is bounded in wall-clock time (headers or a
body that drip in byte by byte included) and in size, the whole fetch has a deadline and a page
budget, a server that ignores ``offset`` is caught at its first repeated page, and
redirects, bad ``Retry-After`` headers and non-JSON answers are reported, not guessed at.
Every failure is one :class:`FetchError` line naming the URL (never the API key).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import socket
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from deploykit._errors import FetchError, SourceError
from deploykit.io._prefect_api import KIND_TABLES, check_bodies, load_bodies
from deploykit.io._report import ImportReport
from deploykit.store import Store

if TYPE_CHECKING:
    import httpx
    from tqdm import tqdm

_RETRIED = frozenset({429, 500, 502, 503, 504})
_ERROR_BODY = 2048  # bytes of an error answer read (and partly quoted) before giving up on it
_QUOTED = 200  # characters of an error answer quoted in a FetchError
_API_HINT = "; is api_url the API root? A Prefect server serves it under /api, e.g. http://127.0.0.1:4200/api"


class _SlowAnswer(Exception):
    """The answer did not arrive completely within ``timeout`` (retried like a timeout)."""


class _Watchdog:
    """Hangs up a request whose status line and headers outlive its time.

    httpx bounds each network read, not a whole answer, so a server dripping its headers
    byte by byte could hold a request for hours. The watchdog learns each new
    connection's socket through httpcore's ``trace`` hook (the client keeps one
    connection) and shuts it down when the time is up; the body is bounded by the
    deadline check per chunk instead.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.timer: threading.Timer | None = None
        self.fired = False

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember the socket a new connection reads from."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.sock = info["return_value"].get_extra_info("socket")

    def arm(self, seconds: float) -> None:
        with self.lock:
            self.fired = False
            self.timer = threading.Timer(seconds, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def _fire(self) -> None:
        with self.lock:
            if self.timer is threading.current_thread() and self.sock is not None:
                self.fired = True
                with contextlib.suppress(OSError):  # the plain socket's shutdown, TLS or not
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def disarm(self) -> bool:
        """Stop watching; whether the watchdog hung up."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            return self.fired


def retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or ``None`` when it is not valid.

    Accepts delta-seconds (a finite number >= 0; fractions are tolerated) and HTTP
    dates; a date in the past means "now" (0). Negative, ``nan``, ``inf`` and anything
    else unparsable are invalid.
    """
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _one_line(data: bytes) -> str:
    """The start of an error answer as one short line."""
    return " ".join(data.decode("utf-8", "replace").split())[:_QUOTED]


class _Client:
    """POSTs with bounded retries, per-request timeouts, a total deadline and a page budget."""

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        *,
        api_key: str | None,
        timeout: float,
        deadline: float,
        retries: int,
        backoff: float,
        max_wait: float,
        max_page_bytes: int,
        max_pages: int,
    ):
        self.http = http
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.deadline = deadline
        self.ends = time.monotonic() + deadline
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.max_page_bytes = max_page_bytes
        self.max_pages = max_pages
        self.pages = 0
        self.watchdog = _Watchdog()

    def error(self, message: str) -> FetchError:
        """A FetchError with ``message`` on one line, the API key blanked out."""
        line = " ".join(message.split())
        if self.api_key:
            line = line.replace(self.api_key, "***")
        return FetchError(line)

    def _out_of_time(self, target: str) -> FetchError:
        return self.error(f"{target}: the fetch did not finish within deadline={self.deadline:g} s")

    def _wait(self, target: str, attempt: int, response: httpx.Response | None) -> None:
        """Sleep before the next attempt: backoff, or the server's valid ``Retry-After``."""
        delay = min(self.max_wait, self.backoff * 2.0 ** min(attempt, 64))
        header = response.headers.get("Retry-After") if response is not None else None
        if response is not None and header is not None:
            asked = retry_after(header)
            status = response.status_code
            if asked is None:
                raise self.error(
                    f"{target}: HTTP {status} with an invalid Retry-After header {header[:40]!r}"
                    " (expected seconds >= 0 or an HTTP date)"
                )
            if asked > self.max_wait:
                raise self.error(
                    f"{target}: HTTP {status}: the server asks to retry after {asked:.0f} s,"
                    f" longer than max_wait={self.max_wait:g} s; try again later"
                )
            delay = asked
        if time.monotonic() + delay > self.ends:
            raise self._out_of_time(target)
        time.sleep(delay)

    def _exchange(self, target: str, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
        """One POST, its answer read as a stream within the time and size limits."""
        import httpx

        now = time.monotonic()
        if now >= self.ends:
            raise self._out_of_time(target)
        ends = min(now + self.timeout, self.ends)
        late = self._out_of_time(target) if ends == self.ends else _SlowAnswer()
        self.watchdog.arm(ends - now)
        try:
            with self.http.stream(
                "POST",
                target,
                json=body,
                timeout=httpx.Timeout(ends - now),
                extensions={"trace": self.watchdog.trace},
            ) as response:
                if self.watchdog.disarm():
                    raise late
                return response, self._read(target, response, ends, late)
        except httpx.TransportError:
            if self.watchdog.disarm():
                raise late from None
            raise
        finally:
            self.watchdog.disarm()

    def _read(self, target: str, response: httpx.Response, ends: float, late: Exception) -> bytes:
        """The body of ``response``, within ``max_page_bytes`` (an error's: its start) and ``ends``."""
        cap = self.max_page_bytes if response.is_success else _ERROR_BODY
        declared = response.headers.get("Content-Length", "")
        if response.is_success and declared.isdigit() and int(declared) > cap:
            raise self._too_large(target)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                if response.is_success:
                    raise self._too_large(target)
                break  # an error answer: its start is enough
            chunks.append(chunk)
            if time.monotonic() > ends:
                raise late
        return b"".join(chunks)

    def _too_large(self, target: str) -> FetchError:
        return self.error(
            f"{target}: the answer is larger than max_page_bytes={self.max_page_bytes} bytes;"
            " lower page_size or raise max_page_bytes"
        )

    def _no_answer(self, exc: Exception, tries: str) -> str:
        """Why the last attempt got no answer: a too slow one, or none."""
        if isinstance(exc, _SlowAnswer):
            return f"no complete answer within timeout={self.timeout:g} s {tries}"
        return f"cannot reach the Prefect API {tries}: {exc or type(exc).__name__}"

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer of ``POST {url}{path}``; :class:`FetchError` when it cannot be had."""
        import httpx

        target = f"{self.url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            tries = f"after {attempt + 1} attempt(s)"
            try:
                response, data = self._exchange(target, body)
            except httpx.DecodingError as exc:
                raise self.error(f"{target}: the answer cannot be decoded: {exc}") from None
            except (_SlowAnswer, httpx.TransportError) as exc:
                if last:
                    raise self.error(f"{target}: {self._no_answer(exc, tries)}") from None
                self._wait(target, attempt, None)
                continue
            status = response.status_code
            if status in (401, 403):
                raise self.error(
                    f"{target}: the server refused the credentials (HTTP {status}); check the API key"
                )
            if status in _RETRIED and not last:
                self._wait(target, attempt, response)
                continue
            if response.is_redirect:
                where = response.headers["Location"]
                with contextlib.suppress(httpx.InvalidURL):
                    where = str(response.url.join(where))
                raise self.error(
                    f"{target}: the server redirects (HTTP {status}) to {where}; "
                    "pass the address it should be read from as api_url"
                )
            if not response.is_success:
                hint = _API_HINT if status == 404 and "api" not in self.url.split("/")[3:] else ""
                raise self.error(f"{target}: HTTP {status} {tries}: {_one_line(data)}{hint}")
            try:
                return json.loads(data)
            except (ValueError, RecursionError):
                raise self.error(f"{target}: the answer is not JSON (or nested too deeply)") from None
        raise AssertionError("unreachable")  # pragma: no cover - retries >= 0: the loop returns

    def collect(self, path: str, kind: str, page_size: int, bar: tqdm) -> list[dict[str, Any]]:
        """Every object of a ``/filter`` endpoint, page by page until a short page.

        A page whose objects were all read before (a server ignoring ``offset``) stops the
        fetch, as does a page beyond ``max_pages``.
        """
        target = f"{self.url}{path}"
        rows: list[dict[str, Any]] = []
        seen: set[Any] = set()
        while True:
            if self.pages >= self.max_pages:
                raise self.error(
                    f"{target}: the fetch needs more than max_pages={self.max_pages} pages;"
                    " raise max_pages or page_size"
                )
            self.pages += 1
            page = self.post(path, {"offset": len(rows), "limit": page_size})
            try:
                _, objects = check_bodies(target, page, kind)
            except SourceError as exc:
                raise self.error(str(exc)) from None
            ids = {str(o.get("id")) for o in objects}
            if objects and ids <= seen:
                raise self.error(
                    f"{target}: the page at offset {len(rows)} repeats objects already read;"
                    " the server ignores offset"
                )
            seen |= ids
            rows.extend(objects)
            bar.update(len(objects))
            if len(objects) < page_size:
                return rows


def _check_options(api_url: str, counts: dict[str, int], seconds: dict[str, float]) -> None:
    """ValueError for an option out of range; FetchError for an unusable URL."""
    import httpx

    for name, count in counts.items():
        least = 0 if name == "retries" else 1
        if not isinstance(count, int) or count < least:
            raise ValueError(f"{name} must be a whole number >= {least}, got {count!r}")
    for name, value in seconds.items():
        try:
            finite = isinstance(value, int | float) and math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite or value < 0 or (value == 0 and name != "backoff"):
            wanted = ">= 0" if name == "backoff" else "> 0"
            raise ValueError(f"{name} must be a finite number of seconds {wanted}, got {value!r}")
    try:
        url = httpx.URL(api_url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"{api_url}: not a valid URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"{api_url}: not an http(s) URL of a Prefect API")


def fetch_prefect(
    store: Store,
    api_url: str,
    api_key: str | None = None,
    *,
    page_size: int = 200,
    timeout: float = 30,
    deadline: float = 3600,
    retries: int = 5,
    backoff: float = 0.5,
    max_wait: float = 30,
    max_page_bytes: int = 64 * 2**20,
    max_pages: int = 10_000,
    progress: bool | None = None,
) -> ImportReport:
    """Import everything a Prefect server (or Prefect Cloud workspace) serves at ``api_url``.

    Reads ``POST {api_url}/<kind>/filter`` for flows, work pools, work queues,
    deployments, flow runs and task runs, and ``/work_pools/<name>/queues/filter`` for
    each pool, ``page_size`` objects at a time (``offset``/``limit``) until a short
    page, then imports the bodies as :func:`import_prefect_api` does (one transaction,
    upsert by id). Nothing is written unless every page was read.

    The server is not trusted: answers are streamed and bounded in time and size, a
    page that repeats objects already read (a server ignoring ``offset``) stops the
    fetch, redirects are reported (not followed), and a ``Retry-After`` header must be
    valid. Every failure is a :class:`FetchError` naming the URL, never the API key.

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
        Objects per request (default 200).
    timeout
        Seconds per request, wall clock: connecting, the headers and the whole body
        (a body dripping in slowly is cut off at this bound; default 30). A request
        that times out is retried.
    deadline
        Seconds for the whole fetch, retries and waits included (default 3600).
    retries
        Extra attempts after a 429, a 5xx, a timeout or a connection error (default 5),
        waiting ``backoff * 2**attempt`` seconds, at most ``max_wait``, or the
        server's ``Retry-After``.
    backoff
        The first wait, in seconds (default 0.5).
    max_wait
        The longest wait between attempts, in seconds (default 30). A ``Retry-After``
        asking for longer, or one that is invalid (negative, ``nan``, ``inf``,
        unparsable), is a :class:`FetchError`; an HTTP date in the past means now.
    max_page_bytes
        The largest answer read, in bytes after decompression (default 64 MiB); a
        larger page is a :class:`FetchError` as soon as it passes the bound.
    max_pages
        The most requests for pages over the whole fetch (default 10,000).
    progress
        Show a progress bar of the objects fetched (``None``: on a terminal or in a notebook only).

    Returns
    -------
    ImportReport
        What the fetched bodies added: the rows inserted, and the rows updated, of each table.

    Raises
    ------
    FetchError
        The server is unreachable, refuses the key, keeps failing, redirects, is too
        slow, sends too much or repeats itself (the message names the URL).
    ValueError
        An option is out of range.

    Examples
    --------
    >>> fetch_prefect(Store(), "http://127.0.0.1:9/api", retries=0, timeout=1, progress=False)
    Traceback (most recent call last):
    ...
    deploykit.FetchError: http://127.0.0.1:9/api/flows/filter: cannot reach ...
    """
    import httpx
    from tqdm.auto import tqdm

    counts = {"retries": retries, "max_page_bytes": max_page_bytes, "max_pages": max_pages}
    seconds = {"timeout": timeout, "deadline": deadline, "backoff": backoff, "max_wait": max_wait}
    _check_options(api_url, {"page_size": page_size, **counts}, seconds)
    url = api_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    bodies: list[tuple[str, str, list[dict[str, Any]]]] = []
    disable = None if progress is None else not progress
    with (
        httpx.Client(headers=headers, timeout=timeout, limits=httpx.Limits(max_connections=1)) as http,
        tqdm(unit="rows", desc=f"fetch {url}", disable=disable) as bar,
    ):
        client = _Client(http, url, api_key=api_key, **counts, **seconds)
        for kind in KIND_TABLES:
            rows = client.collect(f"/{kind}/filter", kind, page_size, bar)
            bodies.append((f"{url}/{kind}/filter", kind, rows))
            if kind == "work_pools":
                for pool in rows:
                    name = pool.get("name")
                    if not isinstance(name, str) or not name:
                        raise client.error(
                            f"{url}/work_pools/filter: work pool {pool.get('id', '(no id)')} has no name"
                        )
                    path = f"/work_pools/{quote(name, safe='')}/queues/filter"
                    queues = client.collect(path, "work_queues", page_size, bar)
                    bodies.append((f"{url}{path}", "work_queues", queues))
    return load_bodies(store, bodies, url)
