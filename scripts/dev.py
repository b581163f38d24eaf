"""Set up the project and run one of its jobs; needs only Python 3.11+ and the package registry.

    python3 scripts/dev.py demo    # install (locked) and run the demo on data/
    python3 scripts/dev.py test    # install (locked, every extra and a browser) and run every check
    python3 scripts/dev.py notebook  # install (locked, with JupyterLab) and open notebooks/ in JupyterLab

The environment is ``.venv`` in the repository, created with the standard library's
``venv`` and filled from ``uv.lock`` by uv (itself installed from the registry into the
environment), so every machine runs the same versions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*args: str | Path, **env: str) -> None:
    """Run a command in the repository; stop with its exit code if it fails."""
    print("+", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run([str(a) for a in args], cwd=ROOT, env={**os.environ, **env})
    if done.returncode:
        sys.exit(done.returncode)


def sync(*extras: str) -> None:
    """Create ``.venv`` if needed and install exactly the locked dependencies."""
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not (BIN / "uv").exists():
        run(BIN / "python", "-m", "ensurepip", "--default-pip")  # a venv made by other tools may lack pip
        run(BIN / "python", "-m", "pip", "install", "--quiet", "uv")
    flags = [f"--extra={e}" for e in extras]
    run(BIN / "uv", "sync", "--frozen", "--quiet", *flags, UV_PROJECT_ENVIRONMENT=str(VENV))


def demo(args: list[str]) -> None:
    sync()
    run(BIN / "deploykit", "demo", *args)


def test(args: list[str]) -> None:
    sync("dev", "e2e", "widgets", "notebook")
    run("bash", "scripts/install_browser.sh")
    run("bash", "scripts/install_postgres.sh")
    run("bash", "scripts/install_prefect.sh")  # the live Prefect servers, with .venv's uv
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "python", "scripts/strip_notebooks.py", "--check")
    required = {"DEPLOYKIT_REQUIRE_POSTGRES": "1", "DEPLOYKIT_REQUIRE_PREFECT": "1"}  # installed above
    run(BIN / "pytest", *args, **required)  # so never skipped
    run(BIN / "pytest", "--nbval-lax", "-p", "no:cacheprovider", "notebooks/")


def notebook(args: list[str]) -> None:
    sync("notebook")
    run(BIN / "jupyter", "lab", *(args or ["notebooks/"]))


JOBS = {"demo": demo, "notebook": notebook, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in JOBS:
        sys.exit(f"usage: python3 scripts/dev.py {{{'|'.join(JOBS)}}} [args...]")
    JOBS[sys.argv[1]](sys.argv[2:])
