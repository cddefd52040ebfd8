#!/usr/bin/env bash
# Make sure Debian's headless Chromium is installed for the web UI's browser test.
# Exit 0 when /usr/bin/chromium is there (installing it with apt-get when we are
# root and it is missing); exit 1 when it cannot be had, so `make test` runs the
# browser test only where a browser exists (and then requires it to pass).
set -uo pipefail
CHROMIUM=${FACESCOPE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: not installed and cannot install it here (needs root and apt-get);" \
        "the web UI browser test will be skipped" >&2
    exit 1
fi
echo "chromium: installing Debian's chromium for the web UI test..." >&2
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; then
    [ -x "$CHROMIUM" ] && exit 0
fi
echo "chromium: apt-get install chromium failed; the web UI browser test will be skipped" >&2
exit 1
