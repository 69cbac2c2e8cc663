#!/usr/bin/env bash
# The chat page of `lamina serve` in a real browser: Debian's headless chromium
# driven by playwright-core (npm ci in this folder; no browser download).
#   run.sh LAMINA TEST_DATA OUT_DIR [SCRIPT]   (SCRIPT: chat_page.js, the default, or
#   cross_origin.js)
# Exits 77 (ctest: skipped, not passed) where node, chromium or the package is
# absent, naming what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chromium=${LAMINA_CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null; then
    echo "SKIPPED: node not found (apt-get install nodejs npm)"
    exit 77
fi
if [[ ! -x $chromium ]]; then
    echo "SKIPPED: $chromium not found (apt-get install chromium)"
    exit 77
fi
if [[ ! -f $here/node_modules/playwright-core/package.json ]]; then
    echo "SKIPPED: playwright-core not installed (cd tests/browser && npm ci)"
    exit 77
fi
mkdir -p "$3"
exec node "$here/${4:-chat_page.js}" "$1" "$2" "$3" "$chromium"
