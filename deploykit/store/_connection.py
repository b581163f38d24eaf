"""Store files held only during an operation: one DuckDB host per process, files attached per use.

Why: DuckDB locks a file for as long as a database has it open, one writable process *or*
any number of read-only ones. A notebook that keeps a store open would lock the CLI out.
So a file is attached (``ATTACH ... [READ_ONLY]``) when an operation starts and detached
when the last operation in this process ends, releasing the lock in between.

Cost, measured on a 100,000-deployment store (17 MB) on a loaded 2-core machine:
``duckdb.connect`` of a file (or of ``:memory:``) takes 100-170 ms, almost all of it
creating a DuckDB instance; ``ATTACH`` + ``DETACH`` into an existing instance takes 5-7 ms.
Hence one in-memory *host* instance per process (created once, recreated after a fork),
into which files are attached.

Rules per file and process (:class:`FileHandle`, shared by every ``Store`` on the file):

* Reads attach read-only (other processes may read at the same time), writes attach
  writable. Operations that overlap in time share one attachment: a read joins a
  writable one; a write waits for running reads to end, then re-attaches writable, and
  new reads queue behind it.
* Writes take turns (one lock per file), so two ``Store`` objects on one file never
  race each other into a false conflict.
* A file locked by another process is retried with backoff for the store's ``timeout``
  seconds, then refused with :class:`StoreError` naming the holder's PID.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from deploykit._errors import StoreError

CONFIG = {"autoinstall_known_extensions": False, "index_scan_max_count": 32}
"""Never download extensions: ICU, JSON and Parquet are built into the wheel.

DuckDB answers a filter from an ART index when it matches at most
``max(index_scan_max_count, 0.1% of the table)`` rows, fetching them one by one. Its
default count, 2,048, made a work-pool filter matching 1,000 deployments fetch them
through the work-queue key's index: 10 ms, against 4.8 ms for a scan. Point lookups
(by id, by name) match one or a few rows and keep their index; timings at 100,000
deployments do not change.
"""

FIRST_RETRY_SECONDS = 0.01
LAST_RETRY_SECONDS = 0.2
"""Backoff between attempts on a file another process has locked: doubling from 10 ms to 200 ms."""


def check_timeout(timeout: float) -> float:
    """``timeout`` as seconds, or a ``ValueError`` for NaN, infinite or negative values.

    Examples
    --------
    >>> check_timeout(2)
    2.0
    >>> check_timeout(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: timeout must be a finite number of seconds >= 0, got nan
    """
    try:
        seconds = float(timeout)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout!r}")
    return seconds


def connect_memory() -> duckdb.DuckDBPyConnection:
    """A new in-memory database with deploykit's settings."""
    return _utc(duckdb.connect(":memory:", config=CONFIG))


def _utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Show and parse TIMESTAMPTZ values in UTC, whatever the machine's zone."""
    conn.execute("SET GLOBAL TimeZone = 'UTC'")
    return conn


_host: tuple[int, duckdb.DuckDBPyConnection] | None = None
_host_lock = threading.Lock()


def _host_connection() -> duckdb.DuckDBPyConnection:
    """This process's host instance (a forked child never reuses its parent's)."""
    global _host
    with _host_lock:
        if _host is None or _host[0] != os.getpid():
            _host = (os.getpid(), connect_memory())
        return _host[1]


def _on_host(statement: str) -> None:
    """Run ``statement`` on a cursor of its own: threads attach and detach files concurrently."""
    cur = _host_connection().cursor()
    try:
        cur.execute(statement)
    finally:
        cur.close()


def _reset_host() -> None:
    """Drop a host whose state is unknown (a detach failed): the next use makes a new one."""
    global _host
    with _host_lock:
        old, _host = _host, None
    if old is not None and old[0] == os.getpid():
        with contextlib.suppress(duckdb.Error):
            old[1].close()


def check_path(path: Path, *, read_only: bool) -> None:
    """Refuse paths that cannot be a store file before DuckDB touches them.

    A FIFO or device would block or be clobbered, a directory cannot be opened.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if read_only:
            raise StoreError(f"store file {path} does not exist") from None
        return
    except OSError as exc:
        raise StoreError(f"cannot open store {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise StoreError(f"cannot open store {path}: it is {kind}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_aliases = itertools.count()
_handles: dict[tuple[int, str], FileHandle] = {}
_handles_lock = threading.Lock()


def file_handle(path: Path) -> FileHandle:
    """The one handle of ``path`` in this process (made on first use, shared after)."""
    key = (os.getpid(), os.path.realpath(path))
    with _handles_lock:
        handle = _handles.get(key)
        if handle is None:
            handle = _handles[key] = FileHandle(path)
        return handle


def forget(handle: FileHandle) -> None:
    """Drop ``handle`` from the registry once no ``Store`` uses it."""
    with _handles_lock:
        if not handle.stores:
            for key, value in list(_handles.items()):
                if value is handle:
                    del _handles[key]


class _Locked(Exception):
    """Another process holds the file's lock (DuckDB's message)."""


class _Lingering(Exception):
    """This process's previous attachment of the file is detached but not yet closed.

    DuckDB keeps a detached database open until every transaction that used it has ended
    (other threads' transactions on the host can delay that); re-attaching the file before
    then fails with "Unique file handle conflict".
    """


LINGER_SECONDS = 10.0
"""How long a re-attach waits for this process's own detached attachment to close."""


class FileHandle:
    """One store file in this process: attached while operations run, detached in between."""

    def __init__(self, path: Path):
        self.path = path
        self.stores: weakref.WeakSet[object] = weakref.WeakSet()
        self.read_only_stores: weakref.WeakSet[object] = weakref.WeakSet()
        self.checked = False
        self.write_lock = threading.RLock()
        self.local = threading.local()
        self._cond = threading.Condition()
        self._alias: str | None = None
        self._writable = False
        self._active = 0
        self._writers_waiting = 0

    # -- scopes ----------------------------------------------------------------------------

    def current(self) -> duckdb.DuckDBPyConnection | None:
        """This thread's cursor while it is inside an operation on this file, else ``None``."""
        return getattr(self.local, "cursor", None)

    @contextmanager
    def operation(self, *, write: bool, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """Attach the file for the block (or join this thread's running operation); yield a cursor."""
        cur = self.current()
        if cur is not None:
            if write and not self._writable:
                raise StoreError(
                    f"store {self.path}: cannot write inside a read-only operation; "
                    "start the write outside it (or hold the store with hold(write=True))"
                )
            yield cur
            return
        self._acquire(write, timeout)
        try:
            cur = _host_connection().cursor()
            try:
                cur.execute(f"USE {self._alias}")
                self.local.cursor = cur
                yield cur
            finally:
                self.local.cursor = None
                cur.close()
        finally:
            self._release()

    # -- attaching -------------------------------------------------------------------------

    def _acquire(self, write: bool, timeout: float) -> None:
        start = time.monotonic()
        pause = FIRST_RETRY_SECONDS
        with self._cond:
            while True:
                if self._alias is None:
                    try:
                        self._attach(write)
                    except (_Locked, _Lingering) as exc:
                        lingering = isinstance(exc, _Lingering)
                        left = start + (LINGER_SECONDS if lingering else timeout) - time.monotonic()
                        if left <= 0:
                            if lingering:
                                raise StoreError(f"cannot re-attach store {self.path}: {exc}") from None
                            raise StoreError(locked_message(self.path, str(exc), timeout)) from None
                        time.sleep(min(pause, left))
                        pause = min(pause * 2, LAST_RETRY_SECONDS)
                        continue
                elif write and not self._writable:
                    if self._active == 0:
                        self._detach()
                        continue
                    self._writers_waiting += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._writers_waiting -= 1
                    continue
                elif not write and self._writers_waiting and not self._writable:
                    self._cond.wait()
                    continue
                self._active += 1
                return

    def _release(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._detach()
            self._cond.notify_all()

    def _attach(self, write: bool) -> None:
        """One attempt to attach the file; ``_Locked`` if another process holds its lock."""
        alias = f"dk_{next(_aliases)}"
        options = "" if write else " (READ_ONLY)"
        try:
            _on_host(f"ATTACH {_quote(str(self.path))} AS {alias}{options}")
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise _Locked(text) from None
            raise StoreError(f"cannot open store {self.path}: {text}") from None
        except duckdb.Error as exc:
            if "unique file handle conflict" in str(exc).lower():
                raise _Lingering(str(exc)) from None
            if "corrupt database file" in str(exc).lower():
                raise StoreError(f"{self.path} is damaged: {exc}. It was left untouched. {RECOVER}") from None
            raise StoreError(f"{self.path} is not a valid deploykit store: {exc}") from None
        self._alias, self._writable = alias, write
        try:
            self._verify_size(alias)
        except BaseException:
            self._detach()
            raise

    def _detach(self) -> None:
        alias, self._alias = self._alias, None
        if alias is None:
            return
        try:
            _on_host(f"DETACH {alias}")
        except duckdb.Error:  # an invalidated database (a failed write): start afresh
            _reset_host()

    # -- facts read at each attach ---------------------------------------------------------

    def _verify_size(self, alias: str) -> None:
        """Refuse a truncated file (a cut copy, a full disk) before anything reads or writes
        its missing blocks.

        Checked at every attach, not only the first open: a ``Store`` holds nothing between
        operations, so the file may be replaced or cut while one sits idle (a write would
        otherwise rewrite the damaged file).

        DuckDB writes whole blocks after three 4 KiB headers; blocks its header counts but
        the file lacks must be free ones (DuckDB does not write blocks it freed at the
        tail). Bytes past the last block are harmless (a write that failed on a full disk
        leaves some; the header still describes the last commit). A stat and one pragma: cheap
        at any size; damage inside the file is left to DuckDB's block checksums.
        The file is only stat'ed, never opened: closing a descriptor of it would drop
        DuckDB's (POSIX) lock for the whole process. With a write-ahead log beside it (a
        process died mid-write) the block counts include the log's replay, held in
        memory only, so the check is left to DuckDB.
        """
        if os.path.exists(f"{self.path}.wal"):
            return
        cur = _host_connection().cursor()
        try:
            row = cur.execute(
                "SELECT total_blocks, block_size, free_blocks FROM pragma_database_size() "
                "WHERE database_name = $alias",
                {"alias": alias},
            ).fetchone()
        finally:
            cur.close()
        if row is None or not row[1]:
            return
        blocks, block_size, free = row
        actual = os.path.getsize(self.path)
        body = actual - 3 * _HEADER
        missing = blocks - body // block_size if body >= 0 else blocks
        if body < 0 or missing > free:
            raise StoreError(
                f"{self.path} is damaged: it has {actual:,} bytes, which cannot hold the "
                f"{blocks - free:,} blocks of {block_size:,} bytes its header lists as used "
                f"(the file was truncated). It was left untouched. {RECOVER}"
            )


RECOVER = (
    "Recover from your last `deploykit export parquet` (import_parquet into a new store) or "
    "DuckDB `EXPORT DATABASE` copy (`IMPORT DATABASE`), or restore the file from a backup"
)
"""How to recover a damaged store file, ending every message that reports one."""


_HEADER = 4096
"""Size of each of the three headers at the start of a DuckDB file."""


def locked_message(path: Path, text: str, timeout: float) -> str:
    """The lock error, naming the holder's PID when DuckDB reports it."""
    pid = re.search(r"\(PID (\d+)\)", text)
    holder = f" (PID {pid.group(1)})" if pid else ""
    waited = f" after waiting {timeout:g} s" if timeout else ""
    return (
        f"store {path} is locked by another process{holder}{waited}: it is in the middle "
        "of an operation (one process may write, or any number read, at a time); "
        "pass timeout= (CLI: --timeout) to wait for it"
    )


class MemoryHandle:
    """An in-memory store's database: one connection for the store's life, a cursor per thread."""

    def __init__(self) -> None:
        self._conn = connect_memory()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self.write_lock = threading.RLock()
        self.local = threading.local()

    def current(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared across threads)."""
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self.local.cursor = cur
            with self.write_lock:
                self._cursors.append(cur)
        return cur

    @contextmanager
    def operation(self, *, write: bool, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor: nothing to attach in memory."""
        yield self.current()

    def close(self) -> None:
        """Close every thread's cursor and the database."""
        for cur in self._cursors:
            cur.close()
        self._conn.close()
