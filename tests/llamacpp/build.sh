#!/usr/bin/env bash
# Build the llama.cpp tools the `compat` tests compare lamina with, from the
# tree tests/llamacpp/source.sh fetches (llama.cpp de3ff81): llama-perplexity,
# llama-tokenize, llama-quantize, llama-simple, llama-convert-llama2c-to-ggml
# and llama-bench (for bench/compare-llamacpp.sh --llamacpp-bin).
# CPU only, Release, OpenMP. A few minutes on 2 cores; kept between runs.
#
#   tests/llamacpp/build.sh [DIR]      (default: $LAMINA_DEPS, else ~/.cache/lamina/deps)
#
# Prints the folder of the binaries (DIR/llama.cpp-build/bin).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-${LAMINA_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/lamina/deps}}
tree=$(bash "$here/source.sh" "$dir")
build=$dir/llama.cpp-build
targets=(llama-perplexity llama-tokenize llama-quantize llama-simple llama-convert-llama2c-to-ggml llama-bench)
have=1
for t in "${targets[@]}"; do [ -x "$build/bin/$t" ] || have=0; done
if [ $have = 0 ]; then
    cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF > "$dir/llama.cpp-configure.log" 2>&1 ||
        { echo "llama.cpp configure failed: $dir/llama.cpp-configure.log" >&2; exit 1; }
    cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" > "$dir/llama.cpp-build.log" 2>&1 ||
        { echo "llama.cpp build failed: $dir/llama.cpp-build.log" >&2; exit 1; }
fi
echo "$build/bin"
