#!/usr/bin/env bash
# Install Debian's Chromium for the browser end-to-end tests (tests/e2e/).
#
# Idempotent and quiet: does nothing when /usr/bin/chromium already exists.
# Playwright never downloads a browser here; it is pointed at this binary.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

# shellcheck source=scripts/_apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/_apt_install.sh"
apt_install chromium fonts-dejavu-core

if [[ ! -x "$CHROMIUM" ]]; then
    echo "install_browser.sh: apt-get finished but $CHROMIUM is missing" >&2
    exit 1
fi
