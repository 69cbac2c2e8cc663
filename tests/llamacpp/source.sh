#!/usr/bin/env bash
# llama.cpp's source tree for the tests that read its data (vocabulary-only
# GGUF files with llama.cpp's own tokenizer cases, chat templates) or run its
# Python GGUF package gguf-py (numpy only). Nothing of llama.cpp enters this
# repository: the tree is the git bundle that the npm package
# node-llama-cpp@3.22.1 ships (llama.cpp de3ff81), cloned into a folder
# outside version control.
#
#   tests/llamacpp/source.sh [DIR]     (default: $LAMINA_DEPS, else ~/.cache/lamina/deps)
#
# Prints the path of the tree (DIR/llama.cpp). Idempotent: an existing tree at
# the right commit is kept. Needs npm (registry access on the first run) and git.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${1:-${LAMINA_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/lamina/deps}}
package=node-llama-cpp@3.22.1
commit=de3ff815ea7d559ee917f063901b8986f038abc6
tree=$dir/llama.cpp
die() {
    echo "tests/llamacpp/source.sh: $*" >&2
    exit 1
}
if [ "$(git -C "$tree" rev-parse HEAD 2> /dev/null)" != "$commit" ]; then
    command -v npm > /dev/null || die "npm is needed (apt-get install npm)"
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$package" > /dev/null) || die "npm pack $package failed"
    tar -xzf "$tmp"/node-llama-cpp-*.tgz -C "$tmp" package/llama/gitRelease.bundle ||
        die "no llama/gitRelease.bundle in $package"
    rm -rf "$tree"
    git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$tree" ||
        die "cannot clone the bundle"
    [ "$(git -C "$tree" rev-parse HEAD)" = "$commit" ] || die "the bundle is not at $commit"
fi
echo "$tree"
