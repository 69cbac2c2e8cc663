#!/bin/bash
# `lamina perplexity` on the demo model (tests/data/text/kjv_ruth.txt):
#   values  --json bit-equal to test_perplexity's reference (logits fed one
#           token at a time, its own loop over the protocol), on every kernel
#           set this CPU runs and 1 and 2 threads, fp32 and Q8_0; the text
#           line agrees with the JSON; --chunks takes a prefix
#   errors  bad input is a one-line error with the right exit status
#
# Usage: perplexity_test.sh LAMINA TEST_PERPLEXITY DATA_DIR WORK_DIR GROUP [CHUNKS]
# (CHUNKS: score only the first CHUNKS chunks in `values`, for the sanitizer
# builds; default all 17)
set -u
lamina=$1 reference=$2 data=$3 work=$4 group=$5 chunks=${6:-0}
models=$data/models text=$data/text/kjv_ruth.txt tok=$data/models/tok1024-kjv.bin
mkdir -p "$work"
failures=0
fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}

runnable_isas() {
    for isa in $("$lamina" --version | sed -n 's/^kernels: .*(built: \(.*\))$/\1/p'); do
        if "$lamina" --isa "$isa" --version >/dev/null 2>&1; then echo "$isa"; fi
    done
}

# json FIELD: the value of a number field of the JSON on stdin
json() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }

group_values() {
    local limit=
    [ "$chunks" -gt 0 ] && limit="--chunks $chunks"
    for model in kjv1m.bin kjv1m.q80.bin; do
        want=$("$reference" reference "$models/$model" "$tok" "$text" 256 "$chunks") ||
            { fail "reference for $model"; continue; }
        [ "$(json chunks <<<"$want")" -ge 2 ] || fail "$model: too few chunks in $want"
        for isa in $(runnable_isas); do
            for threads in 1 2; do
                got=$("$lamina" perplexity "$models/$model" "$text" -z "$tok" --json $limit \
                    --isa "$isa" --threads "$threads") || fail "$model $isa $threads: exit $?"
                [ "$got" = "$want" ] ||
                    fail "$model --isa $isa --threads $threads:"$'\n'"  got  $got"$'\n'"  want $want"
            done
        done
        # the text line: the same figures, rounded
        line=$("$lamina" perplexity "$models/$model" "$text" -z "$tok" $limit)
        p=$(printf '%.4f' "$(json perplexity <<<"$want")")
        e=$(printf '%.5f' "$(json error <<<"$want")")
        n=$(json tokens <<<"$want") c=$(json chunks <<<"$want")
        [ "$line" = "perplexity: $p ± $e over $n tokens ($c chunks of 256)" ] ||
            fail "$model: the line is '$line' (want $p ± $e over $n tokens, $c chunks)"
    done
    # --chunks 2: the first two chunks' sums of --chunks 3, and the count of two
    three=$("$lamina" perplexity "$models/kjv1m.bin" "$text" -z "$tok" --json --chunks 3)
    two=$("$lamina" perplexity "$models/kjv1m.bin" "$text" -z "$tok" --json --chunks 2)
    prefix=$(sed 's/.*"chunk_nll":\[\([^,]*,[^,]*\),.*/\1/' <<<"$three")
    case $two in
    *'"tokens":254,"chunks":2,'*"\"chunk_nll\":[$prefix]}") ;;
    *) fail "--chunks 2: $two (the first sums of --chunks 3: $prefix)" ;;
    esac
    # --ctx 64 within seq_len: 64-token chunks, 31 scored in each
    ctx64=$("$lamina" perplexity "$models/kjv1m.bin" "$text" -z "$tok" --ctx 64 --chunks 5)
    [[ $ctx64 =~ ^perplexity:\ [0-9.]+\ ±\ [0-9.]+\ over\ 155\ tokens\ \(5\ chunks\ of\ 64\)$ ]] ||
        fail "--ctx 64 --chunks 5: $ctx64"
}

# expect STATUS REGEX -- COMMAND...: the exit status and a one-line stderr
expect() {
    local status=$1 regex=$2
    shift 3
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    [ "$got" = "$status" ] || fail "$*: exit $got, want $status ($(cat "$work/err"))"
    [ "$(wc -l <"$work/err")" = 1 ] && grep -Eq -- "$regex" "$work/err" ||
        fail "$*: stderr '$(cat "$work/err")' does not match '$regex'"
}

group_errors() {
    local m=$models/kjv1m.bin
    head -c 1500 "$text" >"$work/short.txt"
    expect 1 "short.txt tokenizes to only [0-9]+ tokens; a context of 256 needs at least 512" -- \
        "$lamina" perplexity "$m" "$work/short.txt" -z "$tok"
    expect 1 "--ctx 300 exceeds the model's seq_len 256" -- \
        "$lamina" perplexity "$m" "$text" -z "$tok" --ctx 300
    expect 2 "--ctx: 4 is out of range \(from 8 to" -- "$lamina" perplexity "$m" "$text" --ctx 4
    expect 2 "--chunks: 0 is out of range" -- "$lamina" perplexity "$m" "$text" --chunks 0
    expect 2 "--ctx: 'x' is not a decimal integer" -- "$lamina" perplexity "$m" "$text" --ctx x
    expect 2 "perplexity needs a MODEL and a TEXTFILE" -- "$lamina" perplexity "$m"
    expect 2 "unknown option '--bogus'" -- "$lamina" perplexity "$m" "$text" --bogus
    expect 2 "--ctx needs a value" -- "$lamina" perplexity "$m" "$text" --ctx
    expect 2 "unexpected argument 'extra'" -- "$lamina" perplexity "$m" "$text" extra
    expect 1 "nowhere.txt: No such file or directory" -- \
        "$lamina" perplexity "$m" "$work/nowhere.txt" -z "$tok"
    expect 1 "perplexity: Is a directory" -- "$lamina" perplexity "$m" "$work" -z "$tok"
    printf 'In the beginning\0God' >"$work/nul.txt"
    expect 1 "nul.txt: a NUL byte at offset 16: not a text file" -- \
        "$lamina" perplexity "$m" "$work/nul.txt" -z "$tok"
    expect 1 "no tokenizer beside the checkpoint" -- "$lamina" perplexity "$m" "$text"
    "$lamina" perplexity --help | grep -q "^usage: lamina perplexity MODEL TEXTFILE" ||
        fail "perplexity --help"
    "$lamina" --help | grep -q "lamina perplexity" || fail "lamina --help lists perplexity"
}

"group_$group"
if [ "$failures" -gt 0 ]; then
    echo "perplexity.$group: $failures failed" >&2
    exit 1
fi
echo "perplexity.$group: passed"
