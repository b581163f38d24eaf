"""Start-up stays light: ``import deploykit`` and ``deploykit --help`` load no heavy library (issue 13).

Timing is measured by ``benchmarks/bench_startup.py``; this test pins the cause of a
slow start, which does not depend on the machine: which modules get imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["polars", "duckdb", "pydantic", "matplotlib", "ipywidgets", "httpx", "sqlglot", "pyarrow", "IPython"]


def loaded_after(code: str) -> set[str]:
    """The heavy top-level modules loaded by running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    return {m for m in modules if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "code",
    [
        "import deploykit",
        "import contextlib, io\nfrom deploykit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])",
        "import contextlib, io\nfrom deploykit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['preview', '--help'])",
    ],
)
def test_startup_imports_no_heavy_library(code):
    assert loaded_after(code) == set()


def test_lazy_names_still_resolve():
    import deploykit as dk

    assert dk.Store.__name__ == "Store" and dk.DeploymentFilter.__name__ == "DeploymentFilter"
    assert {"Store", "DeploymentFilter", "models", "__version__"} <= set(dk.__all__)
    assert "CronSchedule" in dir(dk) and dk.models.deployments.read_deployments
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dk.nope  # noqa: B018


@pytest.mark.parametrize(
    ("module", "missing"), [("deploykit.plots", "matplotlib"), ("deploykit.widgets", "ipywidgets")]
)
def test_missing_extra_names_the_extra(module, missing):
    code = f"import sys\nsys.modules[{missing!r}] = None\nimport {module}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and missing in last and "pip install 'deploykit[widgets]'" in last
