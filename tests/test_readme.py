"""The README's usage example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    checks = namespace["deployments"].check_work_queues_for_deployment(
        namespace["store"], namespace["nightly"].id
    )
    assert checks["name"].to_list() == ["default", "etl"]
    assert namespace["df"]["name"].to_list() == ["nightly"]
