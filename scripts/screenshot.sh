#!/usr/bin/env bash
# screenshot.sh — a page written by `report --html` / `compare --html` as a full-page PNG, rendered by Debian's
# Chromium through tests/html/render.js (npm playwright-core; `npm ci` installs it):
#
#   bash scripts/screenshot.sh PAGE.html OUT.png
#
# Prints what render.js saw (console errors, requests, figures) as one JSON line; exits non-zero if the page did not
# load or logged an error. The README's docs/report.png is made this way from the bundled sample.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash scripts/screenshot.sh PAGE.html OUT.png" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$(node tests/html/render.js "$1" "$2" "$(command -v chromium || echo /usr/bin/chromium)")
echo "$out" | head -c 400; echo
node -e 'const r = JSON.parse(process.argv[1]);
         if (!r.loaded || r.console_errors.length || r.page_errors.length) { console.error("screenshot: the page logged errors"); process.exit(1); }' "$out"
