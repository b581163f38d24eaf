"""Issue 13, setup and learning: the README says how to run ``deploykit`` and open the notebooks.

After the README's first command a newcomer must know how to reach the ``deploykit``
command (it lives in ``.venv``) and how to open the notebooks (a ``notebook`` extra with
JupyterLab and Voila, and the ``dev.py notebook`` job that installs and opens them).
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(heading: str) -> str:
    return re.search(rf"^## {heading}\n(.*?)^## ", README, re.S | re.M).group(1)


def test_readme_says_how_to_run_deploykit_after_the_first_command():
    start = _section("Two commands")
    assert "python3 scripts/dev.py demo" in start
    assert "source .venv/bin/activate" in start and ".venv/bin/deploykit" in start


def test_a_notebook_extra_installs_jupyterlab_and_voila_and_the_readme_opens_the_notebooks():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = {re.split(r"[<>=\[ ]", requirement)[0].lower() for requirement in extras["notebook"]}
    assert {"jupyterlab", "voila"} <= wanted
    start = _section("Two commands")
    assert "python3 scripts/dev.py notebook" in start and "deploykit[notebook]" in start
    jobs = ast.parse((ROOT / "scripts" / "dev.py").read_text())
    notebook = next(f for f in jobs.body if isinstance(f, ast.FunctionDef) and f.name == "notebook")
    assert '"jupyter", "lab"' in ast.unparse(notebook).replace("'", '"')


def _cells(path: Path) -> tuple[list[str], list[str]]:
    """The code and markdown sources of a notebook."""
    import json

    cells = json.loads(path.read_text())["cells"]
    return [
        [("".join(c["source"])) for c in cells if c["cell_type"] == kind] for kind in ("code", "markdown")
    ]


def test_issue_13_notebooks_are_tutorials_on_real_prefect_data_with_a_few_quiet_checks():
    for name in ("01_tour", "02_schedules", "03_queue_matching"):
        code, prose = _cells(ROOT / "notebooks" / f"{name}.ipynb")
        source = "\n".join(code)
        assert '"tests" / "fixtures" / "prefect-2.10"' in source, name  # Prefect's own data, committed
        assert re.search(r'deploykit\("\w', source), name  # the CLI shown beside the Python
        assert len(prose) >= len(code) / 2 and sum(len(p) for p in prose) > 1000, name  # explained
        assert 1 <= source.count("assert ") <= 5, name  # still guarded by nbval, quietly
