#!/usr/bin/env bash
# Create the Prefect 2.10 peer venv that benchmarks/run.py measures deploykit against.
#
# The peer is a measuring instrument, never a dependency of deploykit: it lives in its
# own venv (benchmarks/.peer/venv), installed from the exact pins in
# ../shared/peer/requirements-prefect-2.10.txt. An existing peer is reused: set
# PREFECT_PEER_PYTHON to its python, or leave one at /tmp/prefect210.
#
# usage: bash scripts/setup_peer.sh        (prints the peer's python path)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/benchmarks/.peer/venv"
requirements="${DEPLOYKIT_PEER_DIR:-$repo/../shared/peer}/requirements-prefect-2.10.txt"

for candidate in "${PREFECT_PEER_PYTHON:-}" "$venv/bin/python" /tmp/prefect210/bin/python; do
    if [[ -n "$candidate" && -x "$candidate" ]] \
        && "$candidate" -c "import prefect, sys; sys.exit(prefect.__version__ != '2.10.0')" 2>/dev/null; then
        echo "$candidate"
        exit 0
    fi
done

if [[ ! -f "$requirements" ]]; then
    echo "cannot find $requirements (set DEPLOYKIT_PEER_DIR to the shared peer folder)" >&2
    exit 1
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip >&2
"$venv/bin/pip" install --quiet -r "$requirements" >&2
"$venv/bin/python" -c "import prefect; assert prefect.__version__ == '2.10.0', prefect.__version__"
echo "$venv/bin/python"
