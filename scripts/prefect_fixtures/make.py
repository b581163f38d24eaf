#!/usr/bin/env python3
"""Make real Prefect server artifacts for deploykit's importer tests.

For each release this builds a pinned virtual environment (outside the tracked
tree, default /work/prefect-venvs/<version>), starts that release's REAL server
(`prefect server start`) on 127.0.0.1 with a fresh SQLite database (and, for 2.20
and 3.x, a fresh PostgreSQL database from scripts/pg_cluster.py), builds a
deterministic fleet through Prefect's own client (fleet.py, run INSIDE the venv),
and saves into tests/fixtures/prefect-<release>/:

    api-<kind>.json                   POST /api/<kind>/filter, all pages (SQLite run)
    api-work_pool_queues-<pool>.json  POST /api/work_pools/<pool>/queues/filter
    expected-preview.json             each schedule's dates from the release's own classes
    prefect.db                        the SQLite server database (VACUUMed)
    alembic_version.txt               its alembic revision
    prefect.pg.sql.gz                 pg_dump --no-owner --no-privileges (2.20, 3.x)
    alembic_version.pg.txt            the Postgres database's alembic revision
    postgres/                         api-*.json and expected-preview.json of the Postgres run
    README.md                         exact version, counts, how it was made

For 2.10 only tests/fixtures/prefect-2.10/expected-preview.json is written, computed
from the schedules in tests/fixtures/prefect-2.10/api-deployments.json with
Prefect 2.10.0's own schedule classes (pins: /work/shared/peer/requirements-prefect-2.10.txt).

Rerun (network is needed only for pip):

    python3 scripts/prefect_fixtures/make.py                         # all releases
    python3 scripts/prefect_fixtures/make.py --releases 3,2.20 --venvs /tmp/venvs
    python3 scripts/prefect_fixtures/make.py --resolve               # re-resolve newest patches, rewrite pins

Without --resolve each venv is installed from the committed
scripts/prefect_fixtures/requirements-<release>.txt, so a rerun is reproducible
(ids and created/updated timestamps still differ: Prefect's server makes them).
PostgreSQL binaries must be installed (scripts/install_postgres.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
from scripts.pg_cluster import PgCluster  # noqa: E402

PEER_210_PINS = next(
    (
        p
        for p in (
            Path("/work/shared/peer/requirements-prefect-2.10.txt"),
            REPO.parent / "shared" / "peer" / "requirements-prefect-2.10.txt",
        )
        if p.exists()
    ),
    Path("/work/shared/peer/requirements-prefect-2.10.txt"),
)

# release short name -> (version prefix for --resolve, extra pip requirements, postgres run?)
RELEASES = {
    "2.10": ("2.10.0", [], False),
    "2.14": ("2.14.", ["griffe<1", "sqlalchemy<2.1"], False),  # SQLAlchemy 2.1 breaks 2.14 bulk updates
    "2.20": ("2.20.", ["griffe<1"], True),
    "3.x": ("3.", [], True),
}
ALIASES = {"3": "3.x", "3.x": "3.x", "2.20": "2.20", "2.14": "2.14", "2.10": "2.10"}


def log(msg: str) -> None:
    print(f"[make {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(argv, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    return subprocess.run([str(a) for a in argv], **kw)


# -- venvs -------------------------------------------------------------------
def newest_version(prefix: str) -> str:
    out = run(
        [sys.executable, "-m", "pip", "index", "versions", "prefect"], capture_output=True, text=True
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith("Available versions:"))
    versions = [v.strip() for v in line.split(":", 1)[1].split(",")]
    finals = [v for v in versions if v.startswith(prefix) and all(p.isdigit() for p in v.split("."))]
    if not finals:
        raise SystemExit(f"no prefect release matches {prefix!r}")
    return max(finals, key=lambda v: tuple(int(p) for p in v.split(".")))


def pins_file(release: str) -> Path:
    return HERE / f"requirements-{release}.txt"


def pinned_version(release: str) -> str | None:
    path = PEER_210_PINS if release == "2.10" else pins_file(release)
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.lower().startswith("prefect=="):
            return line.split("==", 1)[1].strip()
    return None


def ensure_venv(release: str, venvs: Path, resolve: bool) -> tuple[Path, str]:
    prefix, extras, _ = RELEASES[release]
    version = None if resolve else pinned_version(release)
    if version is None:
        version = prefix if release == "2.10" else newest_version(prefix)
    venv = venvs / version
    py = venv / "bin" / "python"
    ok = (
        py.exists()
        and run(
            [py, "-c", f"import prefect, asyncpg; assert prefect.__version__ == '{version}'"],
            check=False,
            capture_output=True,
        ).returncode
        == 0
    )
    if not ok:
        log(f"building venv {venv} for prefect {version}")
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", venv])
        run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
        if release == "2.10":
            run([py, "-m", "pip", "install", "-q", "-r", PEER_210_PINS])
        elif not resolve and pins_file(release).exists():
            run([py, "-m", "pip", "install", "-q", "-r", pins_file(release)])
        else:
            run([py, "-m", "pip", "install", "-q", f"prefect=={version}", "asyncpg", *extras])
    if release != "2.10" and (resolve or not pins_file(release).exists()):
        frozen = run([py, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True).stdout
        pins_file(release).write_text(
            f"# pip freeze of the prefect {version} venv made by make.py (Python "
            f"{sys.version_info.major}.{sys.version_info.minor})\n" + frozen
        )
    return venv, version


# -- servers -----------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path, db_url: str, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    api = f"http://127.0.0.1:{port}/api"
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api,
            "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": db_url,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_API_DATABASE_TIMEOUT": "30",
            "PREFECT_API_DATABASE_CONNECTION_TIMEOUT": "30",
            "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
            "PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT": "30",
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
            "PREFECT_HOME_DIR_CREATE": "true",
            "TZ": "UTC",
        }
    )
    # No background service may add or change rows behind the fleet's back (the
    # scheduler would add hundreds of runs relative to "now", late_runs renames
    # states; the event persister would add ~3 MB of events). 3.x keeps its
    # task_run_recorder: task runs are written from client events there.
    for svc in (
        "SCHEDULER",
        "LATE_RUNS",
        "FLOW_RUN_NOTIFICATIONS",
        "PAUSE_EXPIRATIONS",
        "CANCELLATION_CLEANUP",
        "FOREMAN",
        "TRIGGERS",
        "PROACTIVE_TRIGGERS",
        "REACTIVE_TRIGGERS",
        "ACTIONS",
        "TELEMETRY",
        "REPOSSESSOR",
        "DB_VACUUM",
        "EVENT_PERSISTER",
        "EVENT_LOGGER",
    ):
        env[f"PREFECT_API_SERVICES_{svc}_ENABLED"] = "false"
        env[f"PREFECT_SERVER_SERVICES_{svc}_ENABLED"] = "false"
    return env


class Server:
    def __init__(self, venv: Path, home: Path, db_url: str, old_cli: bool):
        self.port = free_port()
        self.env = server_env(home, db_url, self.port)
        self.api = self.env["PREFECT_API_URL"]
        self.logfile = home / "server.log"
        cmd = [
            venv / "bin" / "prefect",
            "orion" if old_cli else "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(
            [str(c) for c in cmd],
            env=self.env,
            cwd=home,
            stdout=open(self.logfile, "w"),  # noqa: SIM115 - the server outlives this call
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout=180) -> None:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited ({self.proc.returncode}):\n{self.logfile.read_text()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(self.api + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not healthy after {timeout}s:\n{self.logfile.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def fleet(venv: Path, env: dict, *args) -> None:
    run([venv / "bin" / "python", HERE / "fleet.py", *args], env=env, cwd=env["PREFECT_HOME"], timeout=1800)


def run_backend(venv: Path, version: str, db_kind: str, out: Path, pg: PgCluster | None) -> dict:
    """One server on one fresh database: build the fleet, dump the API. Returns info."""
    home = Path(tempfile.mkdtemp(prefix=f"prefect-{version}-{db_kind}-"))
    info: dict = {}
    try:
        if db_kind == "sqlite":
            db_path = home / "prefect.db"
            db_url = f"sqlite+aiosqlite:///{db_path}"
        else:
            assert pg is not None
            dbname = "prefect_" + version.replace(".", "_")
            pg.create_database(dbname)
            db_url = pg.url_for(dbname, driver="asyncpg")
        server = Server(venv, home, db_url, old_cli=False)
        try:
            server.wait()
            log(f"{version}/{db_kind}: server up on {server.api}; building fleet")
            fleet(venv, server.env, "build")
            log(f"{version}/{db_kind}: dumping API into {out}")
            fleet(venv, server.env, "dump", "--out", out)
        finally:
            server.stop()
        if db_kind == "sqlite":
            con = sqlite3.connect(db_path)
            rev = con.execute("select version_num from alembic_version").fetchone()[0]
            con.execute("VACUUM")
            con.close()
            shutil.copyfile(db_path, out / "prefect.db")
            (out / "alembic_version.txt").write_text(rev + "\n")
        else:
            rev = pg.psql("select version_num from alembic_version", dbname).strip()
            dump = out.parent / "prefect.pg.sql" if out.name == "postgres" else out / "prefect.pg.sql"
            pg.dump(dbname, dump)
            if dump.stat().st_size > 300_000:
                data = dump.read_bytes()
                dump.unlink()
                import gzip

                dump = dump.with_suffix(".sql.gz")
                dump.write_bytes(gzip.compress(data, mtime=0))
            (dump.parent / "alembic_version.pg.txt").write_text(rev + "\n")
        info["alembic"] = rev
    finally:
        if (home / "server.log").exists():  # kept for post-mortems, outside the repo
            shutil.copyfile(
                home / "server.log", Path(tempfile.gettempdir()) / f"prefect-fixtures-{version}-{db_kind}.log"
            )
        shutil.rmtree(home, ignore_errors=True)
    return info


def counts(folder: Path) -> dict:
    res = {}
    for f in sorted(folder.glob("api-*.json")):
        res[f.stem[4:]] = len(json.loads(f.read_text()))
    return res


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_readme(folder: Path, release: str, version: str, infos: dict) -> None:
    c = counts(folder)
    prev = json.loads((folder / "expected-preview.json").read_text())
    lines = [
        f"# Real Prefect {version} artifacts",
        "",
        f"Made by `scripts/prefect_fixtures/make.py --releases {release}` on "
        f"{dt.date.today().isoformat()}: Prefect **{version}**'s own server (`prefect server start`, "
        "127.0.0.1, background services off except 3.x's task-run recorder) on a",
        "fresh SQLite database"
        + (" and, separately, a fresh PostgreSQL database" if "postgres" in infos else "")
        + "; the fleet was built through Prefect's own client (`scripts/prefect_fixtures/fleet.py`).",
        f"Pins: `scripts/prefect_fixtures/requirements-{release}.txt`.",
        "",
        "Fixed names everywhere; schedules anchored on 2026-11-01; flow-run times relative to",
        "2026-11-01T00:00Z. Ids and created/updated stamps are the server's own (they change per run).",
        "",
        "| file | what |",
        "| --- | --- |",
        "| `api-<kind>.json` | `POST /api/<kind>/filter` bodies (SQLite run), all pages concatenated |",
        "| `api-work_pool_queues-<pool>.json` | `POST /api/work_pools/<pool>/queues/filter` |",
        "| `expected-preview.json` | dates from this release's own schedule classes, see below |",
        f"| `prefect.db` | the SQLite server database (VACUUMed), alembic `{infos['sqlite']['alembic']}` "
        "(`alembic_version.txt`) |",
    ]
    if "postgres" in infos:
        pgdump = "prefect.pg.sql.gz" if (folder / "prefect.pg.sql.gz").exists() else "prefect.pg.sql"
        lines += [
            f"| `{pgdump}` | `pg_dump --no-owner --no-privileges` (plain SQL) of the PostgreSQL run, alembic "
            f"`{infos['postgres']['alembic']}` (`alembic_version.pg.txt`); load with `PgCluster.restore()` |",
            "| `postgres/` | the PostgreSQL run's own `api-*.json` and `expected-preview.json` "
            "(its ids differ) |",
        ]
    lines += [
        "",
        "Counts (SQLite run): " + ", ".join(f"{k} {v}" for k, v in c.items()),
        "",
        '`expected-preview.json`: `{"prefect_version", "start", "end", "n", "active": '
        '{deployment_id: {schedule_id: [iso dates]}}, "inactive": [...]}`. `active` holds every schedule '
        "that is active on a deployment that is not paused; each schedule's dates are "
        f"`schedule.get_dates(n={prev['n']}, start=S, end=E)` with S = {prev['start']}, E = {prev['end']} "
        "(the window holds New York's DST end on 2026-11-01) from this "
        'release\'s own schedule classes (on 2.10/2.14 a deployment has one schedule, keyed `"schedule"`). '
        "`inactive` lists the others (`deployment_id`, `schedule_id`, `reason`, `dates`).",
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines))


def make_release(release: str, venvs: Path, fixtures: Path, resolve: bool) -> dict:
    venv, version = ensure_venv(release, venvs, resolve)
    if release == "2.10":
        folder = fixtures / "prefect-2.10"
        src = folder / "api-deployments.json"
        if not src.exists():
            log(f"2.10: {src} missing, nothing to preview")
            return {"version": version}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-2.10-")
        try:
            fleet(venv, env, "preview", "--deployments", src, "--out", folder / "expected-preview.json")
        finally:
            shutil.rmtree(env["PREFECT_HOME"], ignore_errors=True)
        return {"version": version, "files": ["expected-preview.json"]}
    _, _, with_pg = RELEASES[release]
    folder = fixtures / f"prefect-{release}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    infos = {"sqlite": run_backend(venv, version, "sqlite", folder, None)}
    if with_pg:
        (folder / "postgres").mkdir()
        with PgCluster("postgres") as pg:
            infos["postgres"] = run_backend(venv, version, "postgres", folder / "postgres", pg)
    write_readme(folder, release, version, infos)
    size = du(folder)
    log(f"{release}: prefect {version}, {size / 1e6:.2f} MB, {counts(folder)}")
    if size > 3_000_000:
        log(f"WARNING: {folder} is {size / 1e6:.2f} MB (> 3 MB)")
    return {"version": version, "size": size, **infos}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--releases", default="3,2.20,2.14,2.10", help="comma list of 2.10, 2.14, 2.20, 3 (default: all)"
    )
    ap.add_argument(
        "--venvs",
        default=os.environ.get("PREFECT_FIXTURE_VENVS", "/work/prefect-venvs"),
        help="where the per-release venvs live (outside the tracked tree)",
    )
    ap.add_argument("--fixtures", default=str(REPO / "tests" / "fixtures"))
    ap.add_argument(
        "--resolve",
        action="store_true",
        help="ignore the committed pins: newest patch of each release, re-freeze the pins",
    )
    args = ap.parse_args()
    venvs = Path(args.venvs)
    venvs.mkdir(parents=True, exist_ok=True)
    results = {}
    for r in [x.strip() for x in args.releases.split(",") if x.strip()]:
        release = ALIASES.get(r)
        if release is None:
            raise SystemExit(f"unknown release {r!r}; choose from 2.10, 2.14, 2.20, 3")
        results[release] = make_release(release, venvs, Path(args.fixtures), args.resolve)
    print(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
