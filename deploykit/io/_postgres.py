"""Connecting to a Prefect server's PostgreSQL database (psycopg), read-only, with clear errors.

The URL is ``postgresql://user:password@host:port/database`` (``postgres://`` and
SQLAlchemy's ``postgresql+asyncpg://`` / ``+psycopg://`` spellings are accepted, as
Prefect's own ``PREFECT_API_DATABASE_CONNECTION_URL`` uses them). The password never
appears in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from deploykit._errors import SourceError

if TYPE_CHECKING:
    import psycopg

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", re.IGNORECASE)
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server before saying it cannot be reached."""


def is_postgres_url(source: object) -> bool:
    """Whether ``source`` is a PostgreSQL URL (rather than a file path).

    Examples
    --------
    >>> is_postgres_url("postgresql+asyncpg://u:p@db:5432/prefect"), is_postgres_url("prefect.db")
    (True, False)
    """
    return isinstance(source, str) and bool(_SCHEME.match(source))


@dataclass(frozen=True)
class PgTarget:
    """Where a URL points, for messages: everything but the password."""

    host: str
    port: int
    database: str
    user: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> PgTarget:
        parts = urlsplit(_SCHEME.sub("postgresql://", url, count=1))
        try:
            port = parts.port or 5432
        except ValueError:
            raise SourceError(f"{redact(url)}: the port is not a number") from None
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise SourceError(
                f"{redact(url)}: no database name (postgresql://user:password@host:port/DATABASE)"
            )
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            database=database,
            user=unquote(parts.username or ""),
            password=None if parts.password is None else unquote(parts.password),
        )

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (what messages and reports show).

    >>> redact("postgresql://me:s3cret@db:5432/prefect")
    'postgresql://me:***@db:5432/prefect'
    """
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


_REASONS = (
    ("authentication failed", "authentication failed for user {user!r} (check the user name and password)"),
    ("no password supplied", "the server wants a password for user {user!r} and the URL has none"),
    ("database.*does not exist|does not exist.*database", "database {database!r} does not exist on {where}"),
    ("role.*does not exist|does not exist.*role", "user {user!r} does not exist on the server"),
    ("timeout|timed out", "no answer from {where} within {timeout} s (check host and port)"),
    ("refused", "nothing listens on {where} (connection refused; check host and port)"),
    ("name or service not known|could not translate host name", "unknown host {host!r}"),
)
"""What libpq's message says (a pattern of its lower-cased text), and what to tell the user, first match."""


def _reason(target: PgTarget, message: str) -> str:
    """Why a connection failed, in words that say what to check (host, auth, database)."""
    low = message.lower()
    for pattern, reason in _REASONS:
        if re.search(pattern, low, re.DOTALL):
            return reason.format(
                user=target.user,
                database=target.database,
                host=target.host,
                where=f"{target.host}:{target.port}",
                timeout=CONNECT_TIMEOUT,
            )
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return first


def connect(url: str) -> psycopg.Connection:
    """A read-only connection in one REPEATABLE READ transaction (a consistent snapshot).

    Raises
    ------
    SourceError
        The server cannot be reached, refuses the credentials, or has no such database;
        the message names host, port, database and user, never the password.
    """
    import psycopg

    target = PgTarget.parse(url)
    try:
        conn = psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=target.database,
            user=target.user or None,
            password=target.password,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="deploykit-import",
        )
    except psycopg.Error as exc:
        message = str(exc)
        if target.password:
            message = message.replace(target.password, "***")
        raise SourceError(f"{target}: cannot connect: {_reason(target, message)}") from None
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute("SET TIME ZONE 'UTC'")
    return conn
