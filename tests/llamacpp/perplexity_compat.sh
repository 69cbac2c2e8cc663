#!/bin/bash
# `lamina perplexity` against llama.cpp's llama-perplexity on the same weights
# and text (ctest label `compat`): the demo model (kjv1m.bin, v0 fp32) is
# converted to GGUF F32 by llama.cpp's own llama-convert-llama2c-to-ggml (with
# the model's 1024-piece tokenizer.bin as the vocabulary), llama-perplexity
# measures the GGUF file and lamina the .bin, both with chunks of CTX tokens.
# Two engines, two arithmetic orders: the figures must agree within 0.1%, and
# the chunk counts (which show the two tokenizers cut the text alike) exactly.
#
# Usage: perplexity_compat.sh LAMINA LLAMACPP_BIN DATA_DIR WORK_DIR [CTX]
set -u
lamina=$1 bin=$2 data=$3 work=$4 ctx=${5:-256}
model=$data/models/kjv1m.bin tok=$data/models/tok1024-kjv.bin text=$data/text/kjv_ruth.txt
mkdir -p "$work"
for tool in llama-convert-llama2c-to-ggml llama-perplexity; do
    if [ ! -x "$bin/$tool" ]; then
        echo "FAILED: $bin/$tool is missing: run tests/llamacpp/source.sh and build.sh" >&2
        exit 1
    fi
done

gguf=$work/kjv1m.f32.gguf
"$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$tok" --llama2c-model "$model" \
    --llama2c-output-model "$gguf" >"$work/convert.log" 2>&1 ||
    { echo "FAILED: conversion (see $work/convert.log)" >&2; exit 1; }

# llama.cpp: one sequence per pass (-b = -c), two threads, no GPU. Its logger
# writes from a thread of its own and may lose the last lines at exit (as
# common/log.cpp says), the final estimate among them: up to three runs.
for attempt in 1 2 3; do
    "$bin/llama-perplexity" -m "$gguf" -f "$text" -c "$ctx" -b "$ctx" -t 2 -ngl 0 \
        >"$work/llamacpp.log" 2>&1 ||
        { echo "FAILED: llama-perplexity (see $work/llamacpp.log)" >&2; exit 1; }
    grep -q "Final estimate: PPL = " "$work/llamacpp.log" && break
    echo "run $attempt of llama-perplexity lost its final lines; again" >&2
done
theirs=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1/p' "$work/llamacpp.log")
their_error=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\2/p' "$work/llamacpp.log")
their_chunks=$(sed -n 's/.*calculating perplexity over \([0-9]*\) chunks.*/\1/p' "$work/llamacpp.log")

ours_json=$("$lamina" perplexity "$model" "$text" -z "$tok" --ctx "$ctx" --json) ||
    { echo "FAILED: lamina perplexity" >&2; exit 1; }
ours=$(sed -n 's/.*"perplexity":\([^,]*\).*/\1/p' <<<"$ours_json")
our_error=$(sed -n 's/.*"error":\([^,]*\).*/\1/p' <<<"$ours_json")
our_chunks=$(sed -n 's/.*"chunks":\([0-9]*\).*/\1/p' <<<"$ours_json")

echo "llama.cpp: PPL $theirs +/- $their_error over $their_chunks chunks of $ctx;" \
    "lamina: $ours +/- $our_error over $our_chunks"
if [ -z "$theirs" ] || [ -z "$ours" ] || [ -z "$their_error" ]; then
    echo "FAILED: no figure (see $work/llamacpp.log)" >&2
    exit 1
fi
[ "$their_chunks" = "$our_chunks" ] ||
    { echo "FAILED: $their_chunks chunks in llama.cpp, $our_chunks in lamina" >&2; exit 1; }
awk -v a="$ours" -v b="$theirs" 'BEGIN {
    d = (a - b) / b; if (d < 0) d = -d
    printf "relative difference %.6f%% (limit 0.1%%)\n", 100 * d
    exit d <= 0.001 ? 0 : 1 }' || { echo "FAILED: beyond 0.1%" >&2; exit 1; }
# the error estimate too (same protocol, same formula), within 1%
awk -v a="$our_error" -v b="$their_error" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d
    exit d <= 0.01 ? 0 : 1 }' || { echo "FAILED: error estimates $our_error and $their_error" >&2; exit 1; }
echo "perplexity.llamacpp: passed"
