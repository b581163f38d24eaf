#!/usr/bin/env bash
# Install Debian's PostgreSQL server and client (used by scripts/pg_cluster.py,
# which starts throwaway clusters for the Prefect-on-Postgres fixtures and tests).
#
# Idempotent and quiet: does nothing when pg_ctl is already findable, on PATH or
# in Debian's versioned directory /usr/lib/postgresql/<ver>/bin.
# The package's own "main" cluster is not used; pg_cluster.py runs initdb itself.
set -euo pipefail

find_pg_ctl() {
    if command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

if find_pg_ctl; then
    exit 0
fi

# shellcheck source=scripts/_apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/_apt_install.sh"
apt_install postgresql postgresql-client

if ! find_pg_ctl; then
    echo "install_postgres.sh: apt-get finished but no pg_ctl was found" \
         "(looked on PATH and in /usr/lib/postgresql/*/bin)" >&2
    exit 1
fi
