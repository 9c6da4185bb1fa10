#!/usr/bin/env bash
# Make Debian's headless Chromium available for the dashboard test (tests/integration/registry/test_ui.py).
# Installs only when it is missing and we are root with apt-get; otherwise says why and leaves the test to skip.
set -uo pipefail
CHROMIUM="${MLOPS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: $CHROMIUM is missing and apt-get cannot run here (not root or not Debian); the UI test will skip" >&2
  exit 0
fi
echo "ensure_chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >/tmp/ensure_chromium.log 2>&1; then
  echo "ensure_chromium: apt-get failed (see /tmp/ensure_chromium.log); the UI test will skip" >&2
fi
exit 0
