#!/usr/bin/env bash
# Install real Prefect servers for the live-server tests (tests/test_live_server.py).
#
#     bash scripts/install_prefect.sh            # 3.x and 2.20 (the releases the tests start)
#     bash scripts/install_prefect.sh 3.x        # one release
#
# Each release gets its own virtual environment in .prefect/<release> (git-ignored),
# filled by uv from the exact pins the fixtures were made with
# (scripts/prefect_fixtures/requirements-<release>.txt: a full pip freeze, so nothing
# is resolved afresh). The pins were frozen under Python 3.11; $PREFECT_PYTHON
# (default 3.11) picks the interpreter, found or fetched by uv.
#
# Idempotent and fast when present: a venv whose stamp file holds the pins' checksum
# is left alone. This is the only step that downloads; the tests never do.
# uv: $UV, else .venv/bin/uv (scripts/dev.py installs it there), else uv on PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PINS_DIR=$ROOT/scripts/prefect_fixtures
PYTHON_REQUEST=${PREFECT_PYTHON:-3.11}

if [[ -n ${UV:-} ]]; then
    uv_bin=$UV
elif [[ -x $ROOT/.venv/bin/uv ]]; then
    uv_bin=$ROOT/.venv/bin/uv
elif command -v uv >/dev/null 2>&1; then
    uv_bin=$(command -v uv)
else
    echo "install_prefect.sh: uv not found (set UV, or run python3 scripts/dev.py test)" >&2
    exit 1
fi

install_release() {
    local release=$1
    local pins=$PINS_DIR/requirements-$release.txt
    local venv=$ROOT/.prefect/$release
    local stamp=$venv/.pins.sha256
    if [[ ! -f $pins ]]; then
        echo "install_prefect.sh: no pins for release '$release' ($pins)" >&2
        exit 1
    fi
    local want
    want=$(sha256sum "$pins" | cut -d' ' -f1)
    if [[ -x $venv/bin/prefect && -f $stamp && $(<"$stamp") == "$want" ]]; then
        return 0
    fi
    echo "install_prefect.sh: building $venv from $pins" >&2
    rm -rf "$venv"
    "$uv_bin" venv --quiet --python "$PYTHON_REQUEST" "$venv"
    "$uv_bin" pip install --quiet --python "$venv/bin/python" --no-deps -r "$pins"
    "$venv/bin/python" -c "import prefect, asyncpg, aiosqlite" # the server and its drivers import
    echo "$want" >"$stamp"
}

releases=("$@")
if [[ ${#releases[@]} -eq 0 ]]; then
    releases=(3.x 2.20)
fi
for release in "${releases[@]}"; do
    install_release "$release"
done
