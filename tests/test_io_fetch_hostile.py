"""fetch_prefect against misbehaving servers on 127.0.0.1 (issue 15, item 5).

Each case starts its own server (tests/hostile_http.py) and checks that the fetch ends
quickly with one FetchError line naming the URL, reads no more than its bounds, and
leaves the store untouched; a well-behaved server still imports everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from conftest import assert_unchanged, snapshot
from hostile_http import FIXTURES, Handler, Request, fixture_rows, prefect, serve

import deploykit as dk
from deploykit.io import FetchError, _fetch, fetch_prefect, import_prefect_api

pytestmark = pytest.mark.timeout(120)  # the old client hung on several of these servers

QUICK = {"retries": 0, "backoff": 0.01, "progress": False}
MiB = 2**20


def only_first(bad, then=prefect):
    """A script: ``bad`` answers the first request, ``then`` every later one."""

    def script(handler: Handler, request: Request) -> None:
        (bad if request.number == 0 else then)(handler, request)

    return script


def test_well_behaved_server_imports_everything_within_tight_limits(store):
    with dk.Store() as expected:
        import_prefect_api(expected, FIXTURES)
        counts = {
            t: expected.sql(f"SELECT count(*) AS n FROM {t}")["n"][0]
            for t in ("flow", "deployment", "flow_run", "task_run", "work_queue", "work_pool")
        }
    with serve(prefect) as server:
        fetch_prefect(store, server.url, page_size=25, max_page_bytes=MiB, timeout=10, deadline=60, **QUICK)
        pages = len(server.requests)
        for table, n in counts.items():
            assert store.sql(f"SELECT count(*) AS n FROM {table}")["n"][0] == n, table
        # exactly enough pages is enough; one fewer is refused before anything is written
        with dk.Store() as again:
            report = fetch_prefect(again, server.url, page_size=25, max_pages=pages, **QUICK)
            assert report.inserted["flow_run"] == counts["flow_run"]
        before = snapshot(store)
        with pytest.raises(
            FetchError, match=rf"^{server.url}/\S+: the fetch needs more than max_pages={pages - 1} pages"
        ):
            fetch_prefect(store, server.url, page_size=25, max_pages=pages - 1, **QUICK)
        assert_unchanged(before, store)


def test_server_ignoring_offset_is_stopped_at_the_first_repeat(store, flow):
    flows = fixture_rows("/api/flows/filter")[:5]

    def same_page(handler: Handler, request: Request) -> None:
        # always the same full page, whatever the offset (the old client looped on it)
        repeat = request.path == "/api/flows/filter" and len(server.requests) < 50
        handler.reply(200, flows if repeat else [])

    before = snapshot(store)
    with serve(same_page) as server:
        with pytest.raises(
            FetchError,
            match=r"/api/flows/filter: the page at offset 5 repeats objects already read; the server ig",
        ):
            fetch_prefect(store, server.url, page_size=5, **QUICK)
        assert [r.body["offset"] for r in server.requests] == [0, 5]
    assert_unchanged(before, store)


def endless_strings(limit: int = 64 * MiB):
    """A JSON list of filler strings, 64 KiB per chunk, up to ``limit`` bytes."""
    yield b"["
    chunk = b'"' + b"x" * (64 * 1024 - 4) + b'",'
    for _ in range(limit // len(chunk)):
        yield chunk
    yield b'"x"]'


@pytest.mark.parametrize(
    ("declared", "cap"),
    [(False, 64 * 1024), (True, 64 * 1024), (True, None)],
    ids=["chunked", "content-length", "300MB-declared-default-cap"],
)
def test_huge_page_is_cut_off_at_max_page_bytes(store, flow, declared, cap):
    def huge(handler: Handler, request: Request) -> None:
        if not declared:
            return handler.stream(200, endless_strings())
        handler._head(200, {"Content-Type": "application/json", "Content-Length": str(300_000_000)})
        for chunk in endless_strings():  # then hangs up, 236 MB short
            handler._write(chunk)

    before = snapshot(store)
    with serve(huge) as server:
        start = time.monotonic()
        limit = {} if cap is None else {"max_page_bytes": cap}
        with pytest.raises(
            FetchError,
            match=rf"/api/flows/filter: the answer is larger than max_page_bytes={cap or 64 * MiB} ",
        ):
            fetch_prefect(store, server.url, **limit, **QUICK)
        assert time.monotonic() - start < 15  # a hang guard; what proves the cut is the next line
        assert server.sent < 32 * MiB  # the client hung up long before the end of the page
    assert_unchanged(before, store)


def _assert_cut_off(
    store: dk.Store, handler: Callable[[Handler, Request], None], *, timeout: float, within: float
) -> None:
    """Fetching from a server that answers with ``handler`` fails after one attempt of
    ``timeout`` seconds, and writes nothing. ``within`` guards against a hang: it lies well
    short of the time the server's whole answer takes, and far above ``timeout``, so that
    a loaded machine does not fail it."""
    before = snapshot(store)
    with serve(handler) as server:
        start = time.monotonic()
        with pytest.raises(
            FetchError,
            match=rf"/api/flows/filter: no complete answer within timeout={timeout} s after 1 attempt",
        ):
            fetch_prefect(store, server.url, timeout=timeout, **QUICK)
        assert time.monotonic() - start < within
    assert_unchanged(before, store)


def test_body_dripping_a_byte_per_second_is_cut_off_at_timeout(store, flow):
    drip = only_first(lambda handler, request: handler.drip(b"[      ]", every=1.0))
    _assert_cut_off(store, drip, timeout=1.5, within=6)  # uncut: 8 s


def test_headers_dripping_are_cut_off_at_timeout(store, flow):
    def slow_headers(handler: Handler, request: Request) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
        for i in range(len(head)):  # about 20 s in all: each read returns well within timeout
            time.sleep(0.25)
            handler._write(head[i : i + 1])

    _assert_cut_off(store, only_first(slow_headers), timeout=1, within=12)  # uncut: 20 s


def test_drip_with_retries_stops_at_the_total_deadline(store, flow):
    def drip(handler: Handler, request: Request) -> None:
        handler.drip(b"[" + b" " * 20 + b"]", every=0.3)

    with serve(drip) as server:
        start = time.monotonic()
        with pytest.raises(
            FetchError, match=r"/api/flows/filter: the fetch did not finish within deadline=2 s"
        ):
            fetch_prefect(store, server.url, timeout=1, deadline=2, retries=50, backoff=0.01, progress=False)
        assert time.monotonic() - start < 10  # a hang guard: uncut, 50 attempts take minutes
        assert 1 < len(server.requests) <= 3  # retried after each timeout until the deadline


def test_endless_5xx_stops_at_the_total_deadline(store, flow):
    with serve(
        lambda handler, request: handler.reply(503, {"detail": "busy"}, headers={"Retry-After": "0.2"})
    ) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"the fetch did not finish within deadline=1 s"):
            fetch_prefect(store, server.url, deadline=1, retries=10**6, progress=False)
        assert time.monotonic() - start < 10  # a hang guard: uncut, it never ends


@pytest.mark.parametrize("header", ["-5", "nan", "inf", "-inf", "soon", "1e999"])
def test_invalid_retry_after_is_a_fetch_error(store, flow, header):
    bad = only_first(
        lambda handler, request: handler.reply(429, {"detail": "slow down"}, headers={"Retry-After": header})
    )
    before = snapshot(store)
    with (
        serve(bad) as server,
        pytest.raises(
            FetchError,
            match=rf"^{server.url}/flows/filter: HTTP 429 with an invalid Retry-After header '{header}'",
        ),
    ):
        fetch_prefect(store, server.url, retries=2, backoff=0.01, progress=False)
    assert_unchanged(before, store)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the fetch asks for between attempts, recorded instead of slept."""
    asked: list[float] = []
    monkeypatch.setattr(_fetch.time, "sleep", asked.append)
    return asked


def future_date() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)


@pytest.mark.parametrize(
    "header", ["999999999", "31", future_date()], ids=["huge", "above-max-wait", "date-tomorrow"]
)
def test_retry_after_longer_than_max_wait_is_refused_at_once(store, flow, header, sleeps):
    bad = only_first(
        lambda handler, request: handler.reply(503, {"detail": "later"}, headers={"Retry-After": header})
    )
    with (
        serve(bad) as server,
        pytest.raises(
            FetchError,
            match=r"/flows/filter: HTTP 503: the server asks to retry after \d+ s, longer than max_wait=30 s",
        ),
    ):
        fetch_prefect(store, server.url, retries=2, backoff=0.01, progress=False)
    assert sleeps == []  # refused at once: no wait at all


def test_retry_after_date_in_the_past_retries_at_once(store, sleeps):
    past = format_datetime(datetime(2015, 10, 21, 7, 28, tzinfo=UTC), usegmt=True)
    bad = only_first(
        lambda handler, request: handler.reply(503, {"detail": "later"}, headers={"Retry-After": past})
    )
    with serve(bad) as server:
        report = fetch_prefect(store, server.url, retries=1, backoff=5, progress=False)
    assert sleeps == [0.0]  # the date, not the 5 s backoff, set the wait
    assert report.inserted["flow"] == len(fixture_rows("/api/flows/filter"))


def test_redirect_with_json_body_is_reported_with_its_target(store, flow):
    moved = only_first(
        lambda handler, request: handler.reply(302, [], headers={"Location": "/elsewhere/api/flows/filter"})
    )
    before = snapshot(store)
    with serve(moved) as server:
        with pytest.raises(
            FetchError,
            match=rf"^{server.url}/flows/filter: the server redirects \(HTTP 302\) to {server.base}/elsewh",
        ):
            fetch_prefect(store, server.url, **QUICK)
        assert len(server.requests) == 1  # not followed
    assert_unchanged(before, store)


def test_500_with_an_endless_body_then_success(store):
    def error_page():
        yield from (b"<p>Internal Server Error</p>\n" * 2048 for _ in range(1100))  # ~64 MiB

    flaky = only_first(lambda handler, request: handler.stream(500, error_page()))
    with serve(flaky) as server:
        report = fetch_prefect(store, server.url, retries=2, backoff=0.01, progress=False)
        assert server.sent < 32 * MiB  # the error page was not read to its end
        assert [r.path for r in server.requests[:2]] == ["/api/flows/filter"] * 2
    assert report.inserted["flow_run"] == len(fixture_rows("/api/flow_runs/filter"))


def test_error_is_one_line_without_the_api_key(store, flow):
    def echo(handler: Handler, request: Request) -> None:
        page = f"<html>\n<h1>Oops</h1>\n<pre>{request.headers.get('Authorization')}</pre>\n</html>"
        handler.reply(500, raw=page.encode(), headers={"Content-Type": "text/html"})

    with serve(echo) as server, pytest.raises(FetchError) as info:
        fetch_prefect(store, server.url, "pnu_secret123", retries=1, backoff=0.01, progress=False)
    message = str(info.value)
    assert message.startswith(f"{server.url}/flows/filter: HTTP 500 after 2 attempt(s): <html> <h1>Oops</h1>")
    assert "\n" not in message and "pnu_secret123" not in message and "Bearer ***" in message


def test_404_on_a_url_without_api_gets_a_hint(store, flow):
    with serve(lambda handler, request: handler.reply(404, {"detail": "Not Found"})) as server:
        with pytest.raises(
            FetchError,
            match=rf"^{server.base}/flows/filter: HTTP 404 after 1 attempt\(s\): .*is api_url the API root",
        ):
            fetch_prefect(store, server.base, **QUICK)
        with pytest.raises(FetchError) as info:
            fetch_prefect(store, server.url, **QUICK)
        assert "404" in str(info.value) and "is api_url" not in str(info.value)


def test_deeply_nested_json_is_a_fetch_error(store, flow):
    nested = only_first(lambda handler, request: handler.reply(200, raw=b"[" * 100_000 + b"]" * 100_000))
    with (
        serve(nested) as server,
        pytest.raises(FetchError, match=r"/api/flows/filter: the answer is not JSON"),
    ):
        fetch_prefect(store, server.url, **QUICK)


def test_work_pool_without_a_name_is_a_fetch_error(store, flow):
    def nameless(handler: Handler, request: Request) -> None:
        if request.path == "/api/work_pools/filter" and request.body["offset"] == 0:
            pools = fixture_rows(request.path)
            del pools[0]["name"]
            return handler.reply(200, pools)
        prefect(handler, request)

    no_name = r"/api/work_pools/filter: work pool \S+ has no name"
    with serve(nameless) as server, pytest.raises(FetchError, match=no_name):
        fetch_prefect(store, server.url, **QUICK)


def test_invalid_url_is_a_fetch_error(store):
    with pytest.raises(FetchError, match=r"^http://\[::1: not a valid URL"):
        fetch_prefect(store, "http://[::1", **QUICK)


@pytest.mark.parametrize(
    "option",
    [
        {"retries": -1},
        {"timeout": float("nan")},
        {"deadline": 0},
        {"max_page_bytes": 0},
        {"max_pages": 0},
        {"max_wait": float("inf")},
    ],
)
def test_options_out_of_range(store, option):
    with pytest.raises(ValueError, match=rf"^{next(iter(option))} must be"):
        fetch_prefect(store, "http://127.0.0.1:9/api", progress=False, **option)
