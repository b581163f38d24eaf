#!/usr/bin/env python3
"""Throwaway PostgreSQL clusters for fixtures and tests (stdlib only).

A cluster is initdb'd into a fresh temporary directory owned by a NON-ROOT user
(PostgreSQL refuses to run as root: when we are root the server runs as the
``postgres`` system user that Debian's package creates, else ``nobody``, through
``runuser -u USER --``; when we are not root it runs as ourselves). It listens on
127.0.0.1 only, on a free port, with its unix socket inside the temporary
directory, and password (scram-sha-256) authentication over TCP.

    from scripts.pg_cluster import PgCluster

    with PgCluster(dbname="prefect") as pg:
        pg.url                       # postgresql://deploykit:deploykit@127.0.0.1:PORT/prefect
        pg.url_for("other", driver="asyncpg")   # postgresql+asyncpg://...
        pg.psql("select 1")          # -> "1\\n"
        pg.restore("dump.sql.gz", "copy")      # plain-SQL dump, gzipped or not
        pg.dump("prefect", "out.sql")          # pg_dump --no-owner --no-privileges

CLI:

    python3 scripts/pg_cluster.py start [--db NAME]   # prints URL and DIR; leaves it running
    python3 scripts/pg_cluster.py stop DIR             # stops it and removes DIR
    python3 scripts/pg_cluster.py run [--db NAME] -- CMD ...   # DATABASE_URL=... CMD, then stop

Missing PostgreSQL binaries raise PgClusterError (never a silent skip); install
them with ``scripts/install_postgres.sh``.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["PgCluster", "PgClusterError", "find_bindir"]

SUPERUSER = "deploykit"
PASSWORD = "deploykit"
STATE_FILE = "pg_cluster.json"


class PgClusterError(RuntimeError):
    """A cluster could not be found, started, queried or stopped."""


def _version_key(path: str) -> tuple:
    m = re.search(r"/postgresql/([0-9.]+)/bin", path)
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl, psql and pg_dump.

    Looked for in $PG_BINDIR, beside pg_ctl/initdb on PATH (symlinks resolved),
    then in Debian's /usr/lib/postgresql/<ver>/bin, newest version first.
    """
    needed = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump")
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:
            candidates.append(str(Path(found).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for cand in candidates:
        if all(os.access(os.path.join(cand, n), os.X_OK) for n in needed):
            return Path(cand)
    looked = ", ".join(candidates) or "PATH and /usr/lib/postgresql/*/bin"
    raise PgClusterError(
        f"PostgreSQL binaries not found (need {', '.join(needed)}; looked in {looked}). "
        "Install them with scripts/install_postgres.sh (Debian's postgresql package), "
        "or point PG_BINDIR at the directory holding them."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PgClusterError("running as root, but neither a 'postgres' nor a 'nobody' user exists")


class PgCluster:
    """One throwaway PostgreSQL cluster; ``start()`` / ``stop()`` or ``with``."""

    def __init__(
        self,
        dbname: str = "prefect",
        *,
        base_dir: str | None = None,
        user: str | None = None,
        port: int | None = None,
        from_datadir: str | os.PathLike | None = None,
    ) -> None:
        """``from_datadir``: start from a copy of a data directory saved by :meth:`save_datadir`
        (a grown benchmark source, say) instead of a fresh initdb."""
        self.dbname = dbname
        self.from_datadir = None if from_datadir is None else Path(from_datadir)
        self.base_dir = base_dir
        self.bindir = find_bindir()
        self.run_as = user if user is not None else _server_user()
        self.port = port
        self.dir: Path | None = None
        self.started = False

    # -- paths and urls -------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def sockdir(self) -> Path:
        assert self.dir is not None
        return self.dir / "sock"

    @property
    def logfile(self) -> Path:
        assert self.dir is not None
        return self.dir / "server.log"

    @property
    def url(self) -> str:
        """postgresql://user:password@127.0.0.1:PORT/db for the cluster's database."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str, driver: str | None = None) -> str:
        if not self.started:
            raise PgClusterError("cluster is not started")
        scheme = "postgresql" + (f"+{driver}" if driver else "")
        return f"{scheme}://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    # -- running things ---------------------------------------------------
    def _as_server_user(self, argv: list[str]) -> list[str]:
        if self.run_as is None or self.run_as == pwd.getpwuid(os.geteuid()).pw_name:
            return argv
        runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin")
        if not runuser:
            raise PgClusterError(
                "runuser not found (util-linux); needed to run PostgreSQL as a non-root user"
            )
        return [runuser, "-u", self.run_as, "--", *argv]

    def _run(
        self,
        argv: list[str],
        *,
        server: bool = False,
        input: bytes | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        env = {
            "PATH": f"{self.bindir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
            "PGPASSWORD": PASSWORD,
            "TZ": "UTC",
        }
        if server:
            argv = self._as_server_user(argv)
        cwd = str(self.dir) if self.dir else None
        proc = subprocess.run(argv, input=input, capture_output=True, env=env, cwd=cwd, timeout=timeout)
        if check and proc.returncode != 0:
            log = ""
            if server and self.dir and self.logfile.exists():
                log = "\n--- server.log ---\n" + self.logfile.read_text(errors="replace")[-3000:]
            raise PgClusterError(
                f"command failed ({proc.returncode}): {' '.join(argv)}\n"
                f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}{log}"
            )
        return proc

    def _client_args(self, dbname: str) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname]

    # -- lifecycle ------------------------------------------------------
    def start(self) -> PgCluster:
        if self.started:
            return self
        self.dir = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=self.base_dir))
        try:
            self._init()
            last_err: Exception | None = None
            fixed_port = self.port is not None
            for _ in range(1 if fixed_port else 5):
                if not fixed_port:
                    self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except PgClusterError as err:  # port race: try another
                    last_err = err
            else:
                raise last_err or PgClusterError("could not start PostgreSQL")
            self.started = True
            (self.dir / STATE_FILE).write_text(
                json.dumps(
                    {
                        "port": self.port,
                        "dbname": self.dbname,
                        "run_as": self.run_as,
                        "bindir": str(self.bindir),
                    }
                )
            )
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def _init(self) -> None:
        assert self.dir is not None
        self.sockdir.mkdir()
        pwfile = self.dir / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.run_as is not None:
            ent = pwd.getpwnam(self.run_as)
            for p in (self.dir, self.sockdir, pwfile):
                os.chown(p, ent.pw_uid, ent.pw_gid)
            os.chmod(self.dir, 0o700)
        if self.from_datadir is not None:
            pwfile.unlink()
            self._run(["cp", "-a", str(self.from_datadir), str(self.datadir)])
            self._configure()
            return
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            server=True,
        )
        pwfile.unlink()
        self._configure()

    def _configure(self) -> None:
        """This cluster's settings, appended to postgresql.conf (the last setting of a name wins)."""
        conf = self.datadir / "postgresql.conf"
        with open(conf, "a") as fh:
            fh.write(
                "\n# pg_cluster.py: throwaway cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockdir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 100\nshared_buffers = 64MB\ntimezone = 'UTC'\n"
            )

    def _pg_ctl_start(self) -> None:
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            ],
            server=True,
        )
        for _ in range(50):  # pg_ctl -w waited already; make sure TCP answers too
            if (
                self._run(
                    [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], check=False
                ).returncode
                == 0
            ):
                return
            time.sleep(0.1)
        raise PgClusterError(f"PostgreSQL did not answer on 127.0.0.1:{self.port}")

    def save_datadir(self, dest: str | os.PathLike) -> Path:
        """Copy the data directory to ``dest`` (stopped for a consistent copy, then started again);
        ``PgCluster(from_datadir=dest)`` starts a new cluster from it."""
        ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]
        self._run(ctl, server=True)
        try:
            out = Path(dest)
            out.parent.mkdir(parents=True, exist_ok=True)
            self._run(["cp", "-a", str(self.datadir), str(out)])
        finally:
            self._pg_ctl_start()
        return out

    def stop(self) -> None:
        """Stop the server (if running) and remove its directory."""
        if self.dir is None:
            return
        if self.datadir.joinpath("postmaster.pid").exists():
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                server=True,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.started = False

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- using it ---------------------------------------------------------
    def psql(self, sql: str, dbname: str | None = None) -> str:
        """Run SQL with psql (ON_ERROR_STOP, unaligned, tuples only); return stdout."""
        out = self._run(
            [
                str(self.bindir / "psql"),
                *self._client_args(dbname or self.dbname),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                "-",
            ],
            input=sql.encode(),
        )
        return out.stdout.decode()

    def create_database(self, dbname: str) -> None:
        exists = self.psql(f"select 1 from pg_database where datname = '{dbname}'", "postgres").strip()
        if not exists:
            self.psql(f'create database "{dbname}"', "postgres")

    def drop_database(self, dbname: str) -> None:
        self.psql(f'drop database if exists "{dbname}" with (force)', "postgres")

    def restore(self, dump_path: str | os.PathLike, dbname: str | None = None) -> str:
        """Load a plain-SQL dump (``.gz`` allowed) into ``dbname`` (created if missing).

        Returns the postgresql:// URL of that database.
        """
        dbname = dbname or self.dbname
        path = Path(dump_path)
        if not path.exists():
            raise PgClusterError(f"dump not found: {path}")
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        self.create_database(dbname)
        self._run(
            [
                str(self.bindir / "psql"),
                *self._client_args(dbname),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                "-",
            ],
            input=data,
            timeout=600,
        )
        return self.url_for(dbname)

    def dump(self, dbname: str, out_path: str | os.PathLike) -> Path:
        """pg_dump --no-owner --no-privileges as plain SQL (gzipped if out_path ends in .gz)."""
        proc = self._run(
            [
                str(self.bindir / "pg_dump"),
                *self._client_args(dbname),
                "--no-owner",
                "--no-privileges",
                "--format=plain",
            ],
            timeout=600,
        )
        out = Path(out_path)
        data = proc.stdout
        if out.suffix == ".gz":
            data = gzip.compress(data, mtime=0)
        out.write_bytes(data)
        return out


def _stop_dir(d: str) -> None:
    state = json.loads((Path(d) / STATE_FILE).read_text())
    pg = PgCluster(state["dbname"], user=state["run_as"], port=state["port"])
    pg.dir = Path(d)
    pg.started = True
    pg.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="start a cluster, print URL and DIR, leave it running")
    p_start.add_argument("--db", default="prefect")
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR and remove DIR")
    p_stop.add_argument("dir")
    p_run = sub.add_parser("run", help="run CMD with DATABASE_URL set, then stop the cluster")
    p_run.add_argument("--db", default="prefect")
    p_run.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            pg = PgCluster(args.db).start()
            print(f"URL={pg.url}")
            print(f"DIR={pg.dir}")
            return 0
        if args.cmd == "stop":
            _stop_dir(args.dir)
            return 0
        command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
        if not command:
            ap.error("run needs a command after --")
        with PgCluster(args.db) as pg:
            env = dict(os.environ, DATABASE_URL=pg.url)
            return subprocess.call(command, env=env)
    except PgClusterError as err:
        print(f"pg_cluster.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
