#!/bin/bash
# `lamina perplexity` against llama.cpp's llama-perplexity on the same weights
# and text (ctest label `compat`): the demo model (kjv1m.bin, v0 fp32) is
# converted to GGUF F32 by llama.cpp's own llama-convert-llama2c-to-ggml (with
# the model's 1024-piece tokenizer.bin as the vocabulary) and quantized to Q8_0
# by its llama-quantize; llama-perplexity measures the GGUF files, lamina
# kjv1m.bin and kjv1m.q80.bin (llama2.c's exporter: Q8_0 in groups of 32 too),
# all with chunks of CTX tokens; then both engines measure the same GGUF files
# with their own vocabulary: kjv1m.bin as `lamina convert` writes it (F32;
# llama.cpp's converter records a context of 128) and the F16 and Q8_0 files
# llama-quantize makes of it. Two
# engines, two arithmetic orders: the
# figures must agree within 0.1% (F32) and 0.5% (Q8_0), the error estimates
# within 1% and 5%, and the chunk counts (which show that the two tokenizers
# cut the text alike) exactly.
#
# Usage: perplexity_compat.sh LAMINA LLAMACPP_BIN DATA_DIR WORK_DIR [CTX]
set -u
lamina=$1 bin=$2 data=$3 work=$4 ctx=${5:-256}
models=$data/models tok=$data/models/tok1024-kjv.bin text=$data/text/kjv_ruth.txt
mkdir -p "$work"
for tool in llama-convert-llama2c-to-ggml llama-quantize llama-perplexity; do
    if [ ! -x "$bin/$tool" ]; then
        echo "FAILED: $bin/$tool is missing: run tests/llamacpp/source.sh and build.sh" >&2
        exit 1
    fi
done
failures=0
fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}

f32=$work/kjv1m.f32.gguf q8=$work/kjv1m.q8_0.gguf
l32=$work/lamina.f32.gguf l16=$work/lamina.f16.gguf l8=$work/lamina.q8_0.gguf
"$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$tok" \
    --llama2c-model "$models/kjv1m.bin" --llama2c-output-model "$f32" >"$work/convert.log" 2>&1 ||
    { echo "FAILED: conversion (see $work/convert.log)" >&2; exit 1; }
"$lamina" convert "$models/kjv1m.bin" "$l32" -z "$tok" >"$work/lamina-convert.log" 2>&1 ||
    { echo "FAILED: lamina convert (see $work/lamina-convert.log)" >&2; exit 1; }
for t in Q8_0:$f32:$q8 Q8_0:$l32:$l8 F16:$l32:$l16; do
    IFS=: read -r type in out <<<"$t"
    "$bin/llama-quantize" "$in" "$out" "$type" >"$work/quantize.log" 2>&1 ||
        { echo "FAILED: llama-quantize $type (see $work/quantize.log)" >&2; exit 1; }
done

# llama.cpp: "PPL error chunks" (llama_ppl.sh)
. "$(dirname "$0")/llama_ppl.sh"
llamacpp() { llama_ppl "$bin" "$1" "$text" "$ctx" "$work/$(basename "$1").log"; }

# compare GGUF LAMINA_MODEL LIMIT ERROR_LIMIT: figure, error and chunks
compare() {
    local theirs ours
    theirs=$(llamacpp "$1")
    local z=(-z "$tok")
    [[ $2 == *.gguf ]] && z=() # its own vocabulary
    ours=$("$lamina" perplexity "$2" "$text" "${z[@]}" --ctx "$ctx" --json |
        sed -n 's/.*"perplexity":\([^,]*\),"error":\([^,]*\),"tokens":[0-9]*,"chunks":\([0-9]*\),.*/\1 \2 \3/p')
    echo "$(basename "$2") against $(basename "$1"), chunks of $ctx: lamina $ours," \
        "llama.cpp $theirs (PPL, error, chunks)"
    read -r p e c <<<"$ours"
    read -r tp te tc <<<"$theirs"
    if [ -z "${p:-}" ] || [ -z "${tc:-}" ]; then
        fail "$(basename "$1"): no figure (lamina: '$ours'; llama.cpp: '$theirs')"
        return
    fi
    [ "$c" = "$tc" ] || fail "$(basename "$1"): $tc chunks in llama.cpp, $c in lamina"
    awk -v a="$p" -v b="$tp" -v lim="$3" -v ea="$e" -v eb="$te" -v elim="$4" 'BEGIN {
        d = (a - b) / b; if (d < 0) d = -d; de = (ea - eb) / eb; if (de < 0) de = -de
        printf "  relative difference %.4f%% (limit %g%%), of the error %.3f%% (limit %g%%)\n",
            100 * d, 100 * lim, 100 * de, 100 * elim
        exit d <= lim && de <= elim ? 0 : 1 }' || fail "$(basename "$1"): beyond the limits"
}

# llama.cpp's converter writes padding_token_id 0xFFFFFFFF ("none"): the
# vocabulary must load all the same, with the ids of tokenizer.bin.
want=$("$lamina" tokenize -z "$tok" -- "And it came to pass" 2>&1)
got=$("$lamina" tokenize -z "$f32" -- "And it came to pass" 2>&1)
[ "$got" = "$want" ] || fail "the vocabulary of llama.cpp's conversion: '$got', want '$want'"
compare "$f32" "$models/kjv1m.bin" 0.001 0.01
compare "$q8" "$models/kjv1m.q80.bin" 0.005 0.05
compare "$l32" "$l32" 0.001 0.01
compare "$l16" "$l16" 0.001 0.01
compare "$l8" "$l8" 0.005 0.05
if [ "$failures" -gt 0 ]; then
    echo "perplexity.llamacpp: $failures failed" >&2
    exit 1
fi
echo "perplexity.llamacpp: passed"
