#!/usr/bin/env bash
# Screenshot an HTML evaluation report with headless Chromium, to look at its layout.
#
#   scripts/report-screenshot.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
#
# Needs `chromium` (Debian: apt-get install -y chromium). Runs offline: the report must not
# fetch anything. A demo report: cargo run -p kiln-eval --example demo_report -- /tmp/report.html
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
    exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1400}
height=${4:-3000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$browser" ]]; then
    echo "no chromium found; install it (apt-get install -y chromium)" >&2
    exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size="$width,$height" \
    --screenshot="$out" "file://$report" >/dev/null 2>&1
test -s "$out"
echo "$out"
