"""What the browser tests share: Voila serving a notebook, and headless Chromium showing it offline.

Chromium is Debian's (``scripts/install_browser.sh``), never a downloaded one. Voila
runs on a free local port and is always terminated; every request leaving 127.0.0.1 is
aborted and recorded in the page's ``outside`` list (the widgets must work offline).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 60_000
"""How long an expectation on the page waits."""
LOAD_TIMEOUT_MS = 120_000
"""How long the first render of a notebook (kernel start, imports, data) may take."""


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll a static file until Voila answers (it does not run the notebook for that)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"voila exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}voila/static/favicon.ico", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"voila did not start within 60 s:\n{log.read_text()}")


@contextmanager
def serve_notebook(notebook: Path, log: Path) -> Iterator[str]:
    """Voila serving ``notebook`` (with the deploykit template) on a free port: its URL.

    Fails at once when Chromium is missing (serving would be of no use); Voila's output
    goes to ``log``, shown when it does not start; it is terminated on exit.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/install_browser.sh` first (CI does)")
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "voila"),
        notebook.name,
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--template=deploykit",
        "--show_tracebacks=True",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            cwd=notebook.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_serving(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def offline_page(url: str, ready: str, *, record_dialogs: bool = False) -> Iterator[object]:
    """``url`` in headless Chromium once the CSS selector ``ready`` shows, requests kept local.

    The page's ``outside`` lists the requests that were aborted for leaving 127.0.0.1;
    with ``record_dialogs`` its ``dialogs`` lists the messages of the dialogs dismissed
    (a script injected by a hostile value would open one).
    """
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 2400})
            if record_dialogs:
                tab.dialogs = []  # type: ignore[attr-defined]
                tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
            tab.outside = []  # type: ignore[attr-defined]
            tab.route("**/*", lambda route: _local_only(route, tab.outside))  # type: ignore[attr-defined]
            tab.goto(url, timeout=TIMEOUT_MS)
            tab.wait_for_selector(ready, timeout=LOAD_TIMEOUT_MS)
            yield tab
        finally:
            browser.close()


def _local_only(route: object, outside: list[str]) -> None:
    """Serve 127.0.0.1; abort and record every other request (the page must work offline)."""
    if route.request.url.startswith("http://127.0.0.1:"):  # type: ignore[attr-defined]
        route.continue_()  # type: ignore[attr-defined]
    else:
        outside.append(route.request.url)  # type: ignore[attr-defined]
        route.abort()  # type: ignore[attr-defined]
