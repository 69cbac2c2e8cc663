#!/usr/bin/env bash
# GGUF files that llama.cpp itself wrote (label compat: needs tests/llamacpp/build.sh):
# kjv1m.bin through llama-convert-llama2c-to-ggml (F32) gives the .bin's text in
# lamina, which shows that GGUF's Q/K rows are run.c's layout (no permutation);
# llama-quantize's Q8_0 and F16 of that file load and give the text of the same
# types written by gguf-py.
# usage: llamacpp_files.sh LAMINA LLAMACPP_BIN DATA_DIR FIXTURE_DIR
set -u
lamina=$1 bin=$2 data=$3 fixtures=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in llama-convert-llama2c-to-ggml llama-quantize; do
    [ -x "$bin/$t" ] || { echo "llamacpp_files.sh: $bin/$t missing: run tests/llamacpp/build.sh" >&2; exit 1; }
done
pass=0 fail=0
tok=$data/models/tok1024-kjv.bin
text() { "$lamina" "$1" -z "$tok" -s 7 -n 80 -i "And it came to pass" 2>"$tmp/err"; }
same() { # LABEL A B
    if [ -n "$2" ] && [ "$2" = "$3" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $1"; cat "$tmp/err"; fi
}
"$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$tok" --llama2c-model \
    "$data/models/kjv1m.bin" --llama2c-output-model "$tmp/kjv.gguf" >"$tmp/convert.log" 2>&1 ||
    { echo "FAIL: llama-convert-llama2c-to-ggml"; tail -5 "$tmp/convert.log"; exit 1; }
same "llama.cpp's F32 conversion gives kjv1m.bin's text" "$(text "$data/models/kjv1m.bin")" \
    "$(text "$tmp/kjv.gguf")"
for q in Q8_0 F16 BF16; do
    "$bin/llama-quantize" "$tmp/kjv.gguf" "$tmp/kjv.$q.gguf" $q >"$tmp/q.log" 2>&1 ||
        { fail=$((fail + 1)); echo "FAIL: llama-quantize $q"; tail -3 "$tmp/q.log"; continue; }
    "$lamina" info "$tmp/kjv.$q.gguf" >"$tmp/info" 2>&1 && grep -q "GGUF v3" "$tmp/info" &&
        pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: lamina info on llama-quantize's $q"; cat "$tmp/info"; }
done
same "llama-quantize's Q8_0 gives the text of gguf-py's Q8_0" "$(text "$fixtures/kjv.q8.gguf")" \
    "$(text "$tmp/kjv.Q8_0.gguf")"
same "llama-quantize's F16 gives the text of gguf-py's F16" "$(text "$fixtures/kjv.f16.gguf")" \
    "$(text "$tmp/kjv.F16.gguf")"
same "llama-quantize's BF16 gives the text of gguf-py's BF16" "$(text "$fixtures/kjv.bf16.gguf")" \
    "$(text "$tmp/kjv.BF16.gguf")"
echo "llamacpp_files: $pass passed, $fail failed"
[ $fail -eq 0 ]
