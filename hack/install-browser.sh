#!/usr/bin/env bash
# Chromium and chromedriver for the web UI's tests, from Debian's packages, when missing.
# Needs root and apt-get; without them it says so and the UI tests skip with the reason.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "browser: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "browser: chromium/chromedriver missing and cannot be installed here (needs root and apt-get); UI tests will skip"
  exit 0
fi
echo "browser: installing Debian's chromium and chromium-driver (about 1 minute)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium chromium-driver >/tmp/taskmill-apt-browser.log 2>&1 || {
  apt-get update -q >>/tmp/taskmill-apt-browser.log 2>&1
  apt-get install -y -q --no-install-recommends chromium chromium-driver >>/tmp/taskmill-apt-browser.log 2>&1
}
echo "browser: $(chromium --version 2>/dev/null | head -1)"
