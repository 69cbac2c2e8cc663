#!/bin/bash
# `lamina bench --dtype` with the block-quantized types (src/cli/bench_blocks.c):
#   args  the bytes read per token that bench counts for each mixture at 110M
#         (equal to the tensor sizes of llama-quantize's 110M files: the
#         mixture is llama.cpp's), --dtype lists and errors
#   run   each type runs a few tokens at 110M, 1 and 2 threads, and reports
#         a row with its dtype
# Usage: bench_blocks_test.sh LAMINA GROUP
set -u
lamina=$1 group=$2
failures=0
fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}
tiny=(--shape 110M --reps 1 --warmup 0 --no-probes --prompt-tokens 4 --gen-tokens 2)

group_args() {
    # the stderr line comes before the model loads; 110M's mixtures (bytes
    # of all layer matrices and output.weight, one row of token_embd)
    for want in "q4_0: 67.9 MB of weights read per token, 4.963 bits" \
        "q4_k_m: 71.3 MB of weights read per token, 5.207 bits" \
        "q5_k_m: 80.3 MB of weights read per token, 5.864 bits" \
        "q6_k: 89.8 MB of weights read per token, 6.562 bits"; do
        d=${want%%:*}
        err=$("$lamina" bench "${tiny[@]}" --threads 1 --dtype "$d" 2>&1 >/dev/null)
        grep -q "^bench: 110M $want per weight$" <<<"$err" || fail "$d: no line '$want' in: $err"
    done
    err=$("$lamina" bench --dtype q9 2>&1)
    [ $? = 2 ] && grep -q "'q9' is not f32, q8, q4_0, q4_k_m, q5_k_m, q6_k or all" <<<"$err" ||
        fail "--dtype q9: $err"
    err=$("$lamina" bench --shape 15M --dtype q4_k_m 2>&1)
    [ $? = 2 ] && grep -q "block types need dim and hidden_dim multiples of 256" <<<"$err" ||
        fail "15M q4_k_m: $err"
    err=$("$lamina" bench --shape 15M --dtype f32,q8 --list-shapes 2>&1) || fail "--dtype f32,q8: $err"
}

group_run() {
    out=$("$lamina" bench "${tiny[@]}" --threads 1,2 --dtype q4_0,q4_k_m,q5_k_m,q6_k 2>"$WORK_ERR")
    local rc=$?
    [ $rc = 0 ] || fail "exit status $rc: $(tail -1 "$WORK_ERR")"
    for d in q4_0 q4_k_m q5_k_m q6_k; do
        for t in 1 2; do
            grep -Eq "^110M +$d +[a-z0-9]+ +$t [0-9]" <<<"$out" || fail "no $d row for $t threads"
        done
    done
}

WORK_ERR=$(mktemp)
"group_$group"
rm -f "$WORK_ERR"
if [ "$failures" -gt 0 ]; then
    echo "bench.blocks.$group: $failures failed" >&2
    exit 1
fi
echo "bench.blocks.$group: passed"
