#!/usr/bin/env bash
# Runs one `lamina serve` test with node: run.sh TEST.mjs LAMINA TEST_DATA.
# Exit 77 (reported skipped by ctest) where node 20+ or the openai package is
# absent: `cd tests/serve && npm ci` installs it (.ci/run does).
here=$(cd "$(dirname "$0")" && pwd)
test=$1 lamina=$2 data=$3
command -v node >/dev/null || { echo "SKIPPED: node is not installed"; exit 77; }
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
    { echo "SKIPPED: node $(node --version) is older than 20 (openai 6.x needs 20)"; exit 77; }
[ -f "$here/node_modules/openai/package.json" ] ||
    { echo "SKIPPED: the openai package is not installed (cd tests/serve && npm ci)"; exit 77; }
exec node "$here/$test" "$lamina" "$data/models/kjv1m.bin" "$data/models/tok1024-kjv.bin"
