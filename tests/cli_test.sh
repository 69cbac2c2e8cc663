#!/usr/bin/env bash
# End-to-end tests of the lamina CLI. Usage: cli_test.sh LAMINA SHARED_DATA GOLDEN_DIR GROUP
# Every case checks the exit status and, for errors, the one-line message.
set -u
lamina=$1 shared=$2 golden=$3 group=$4
models=$shared/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 passes=0

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS PATTERN -- command...: exit status and a stderr line matching
# PATTERN (grep -E); an error must be a single line naming the problem.
expect() {
    local status=$1 pattern=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    if [ "$got" != "$status" ]; then
        fail "$* -> exit $got, want $status; stderr: $(head -c 300 "$tmp/err")"
    elif ! grep -Eq -- "$pattern" "$tmp/err"; then
        fail "$* -> stderr lacks /$pattern/: $(head -c 300 "$tmp/err")"
    elif [ "$status" != 0 ] && [ "$(wc -l <"$tmp/err")" != 1 ]; then
        fail "$* -> error is not one line: $(cat "$tmp/err")"
    elif [ "$status" != 0 ] && [ -s "$tmp/out" ]; then
        fail "$* -> printed output before failing: $(head -c 200 "$tmp/out")"
    else
        pass
    fi
}

# same_output FILE -- command...: stdout equals FILE byte for byte.
same_output() {
    local want=$1
    shift 2
    if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
        fail "$* -> exit $?: $(head -c 300 "$tmp/err")"
    elif ! cmp -s "$tmp/out" "$want"; then
        fail "$* -> output differs from $want: $(cmp "$tmp/out" "$want" | head -1)"
        diff <(head -c 400 "$want") <(head -c 400 "$tmp/out") | head -6
    else
        pass
    fi
}

# A 512-entry tokenizer whose piece for id i is " i": decoded output is then
# the id list (how stories260K_generate.txt was recorded).
make_standin_tokenizer() {
    {
        printf '\x04\x00\x00\x00'
        for i in $(seq 0 511); do
            local s=" $i"
            printf '\x00\x00\x00\x00'
            printf "\\x$(printf %02x ${#s})\\x00\\x00\\x00"
            printf '%s' "$s"
        done
    } >"$1"
}

# patch FILE OFFSET HEXBYTES: overwrite bytes in place (little-endian values).
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }

isas() { "$lamina" --version | sed -n 's/^kernels: .*(built: \(.*\))$/\1/p'; }
runnable_isas() {
    for isa in $(isas); do
        if "$lamina" --isa "$isa" --version >/dev/null 2>&1; then echo "$isa"; fi
    done
}

group_golden() {
    # llama2.c's text for the demo model, fp32 (v0 and v1 files) and Q8_0
    for flags_file in "$golden"/kjv*.flags; do
        local base=${flags_file%.flags}
        local flags prompt steps
        flags=$(cat "$flags_file") prompt=$(cat "$base.prompt") steps=$(cat "$base.steps")
        for model in kjv1m.bin kjv1m.v1.bin; do
            # shellcheck disable=SC2086
            same_output "$base.text_fp32" -- "$lamina" "$models/$model" -z "$models/tok1024-kjv.bin" \
                $flags -n "$steps" -i "$prompt"
        done
        if [ -f "$base.text_q80" ]; then
            # shellcheck disable=SC2086
            same_output "$base.text_q80" -- "$lamina" "$models/kjv1m.q80.bin" \
                -z "$models/tok1024-kjv.bin" $flags -n "$steps" -i "$prompt"
        fi
    done
    # run.c's stories260K generations through the CLI with the stand-in vocabulary
    make_standin_tokenizer "$tmp/standin.bin"
    while IFS='|' read -r flags ids; do
        case $flags in \#*) continue ;; esac
        echo "${ids# }" >"$tmp/want"
        # shellcheck disable=SC2086
        same_output "$tmp/want" -- "$lamina" "$models/stories260K.bin" -z "$tmp/standin.bin" $flags -n 256
    done <"$shared/golden/stories260K_generate.txt"
}

group_isa() {
    # Every kernel set and thread count gives the same greedy text.
    local want=$golden/kjv0.text_fp32 prompt
    prompt=$(cat "$golden/kjv0.prompt")
    for isa in $(runnable_isas); do
        for threads in 1 2; do
            same_output "$want" -- "$lamina" "$models/kjv1m.bin" -z "$models/tok1024-kjv.bin" -t 0 \
                -n 256 -i "$prompt" --isa "$isa" --threads "$threads"
            same_output "$golden/kjv0.text_q80" -- "$lamina" "$models/kjv1m.q80.bin" \
                -z "$models/tok1024-kjv.bin" -t 0 -n 256 -i "$prompt" --isa "$isa" --threads "$threads"
        done
    done
    LAMINA_ISA=scalar expect 0 "\(scalar, " -- "$lamina" -n 16
    for isa in $(isas); do
        if ! "$lamina" --isa "$isa" --version >/dev/null 2>&1; then
            expect 2 "--isa: ISA '$isa' needs the CPU feature .*, which this CPU lacks" -- "$lamina" --isa "$isa"
        fi
    done
    expect 2 "--isa: unknown kernel set 'sse9'" -- "$lamina" --isa sse9
    LAMINA_ISA=bogus expect 2 "LAMINA_ISA: unknown kernel set 'bogus'" -- "$lamina"
}

group_bad_files() {
    local ok=$models/kjv1m.bin tok=(-z "$models/tok1024-kjv.bin") f=$tmp/bad.bin
    expect 1 "$tmp/missing.bin: cannot open checkpoint: No such file" -- "$lamina" "$tmp/missing.bin"
    expect 1 "$tmp: not a regular file" -- "$lamina" "$tmp"
    : >"$f"
    expect 1 "bad.bin: too small to be a checkpoint \(0 bytes\)" -- "$lamina" "$f" "${tok[@]}"
    head -c 1000000 "$ok" >"$f"
    expect 1 "bad.bin: file is 1000000 bytes but its header .* implies 4249116: truncated or corrupt" -- "$lamina" "$f" "${tok[@]}"
    { cat "$ok"; printf 'x'; } >"$f"
    expect 1 "bad.bin: file is 4249117 bytes .* truncated or corrupt" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 0 "$(le32 0)"
    expect 1 "bad.bin: invalid header: dim = 0, must be positive" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 4 "$(le32 -7)"
    expect 1 "invalid header: hidden_dim = -7, must be positive" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 12 "$(le32 3)"
    expect 1 "invalid header: dim 128 is not a multiple of n_heads 3" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 16 "$(le32 3)"
    expect 1 "invalid header: n_heads 4 is not a multiple of n_kv_heads 3" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 12 "$(le32 128)" && patch "$f" 16 "$(le32 128)"
    expect 1 "invalid header: head size 1 \(dim / n_heads\) must be even" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 20 "$(le32 -1024)"
    expect 1 "bad.bin: file is 4249116 bytes but its header .*implies 4773404" -- "$lamina" "$f" "${tok[@]}"
    cp "$ok" "$f" && patch "$f" 24 "$(le32 2147483647)"
    expect 1 "truncated or corrupt" -- "$lamina" "$f" "${tok[@]}"
    # v1 / v2 headers
    local v1=$models/kjv1m.v1.bin v2=$models/kjv1m.q80.bin
    cp "$v1" "$f" && patch "$f" 4 "$(le32 3)"
    expect 1 "bad.bin: unsupported checkpoint version 3" -- "$lamina" "$f" "${tok[@]}"
    head -c 100 "$v1" >"$f"
    expect 1 "bad.bin: truncated header \(100 of 256 bytes\)" -- "$lamina" "$f" "${tok[@]}"
    cp "$v1" "$f" && patch "$f" 36 '\x07'
    expect 1 "shared_classifier byte is 7, must be 0 or 1" -- "$lamina" "$f" "${tok[@]}"
    cp "$v1" "$f" && patch "$f" 32 "$(le32 1073741824)"
    expect 1 "the KV cache for 1073741824 positions needs 2560.0 GiB" -- "$lamina" "$f" "${tok[@]}" -n 0
    cp "$v2" "$f" && patch "$f" 37 "$(le32 0)"
    expect 1 "invalid header: group size 0 must be positive and divide dim 128" -- "$lamina" "$f" "${tok[@]}"
    cp "$v2" "$f" && patch "$f" 37 "$(le32 48)"
    expect 1 "group size 48 must be positive and divide dim 128" -- "$lamina" "$f" "${tok[@]}"
    head -c 1190000 "$v2" >"$f"
    expect 1 "file is 1190000 bytes but its header \(v2, .*\) implies 1190144" -- "$lamina" "$f" "${tok[@]}"
    # tokenizers
    expect 1 "llama2-32k.bin.*32000.*1024|1024.*32000" -- "$lamina" "$ok" -z "$shared/tokenizers/llama2-32k.bin"
    expect 1 "$tmp/none.bin" -- "$lamina" "$ok" -z "$tmp/none.bin"
    head -c 5000 "$models/tok1024-kjv.bin" >"$tmp/tok.bin"
    expect 1 "tok.bin: .*(truncated|holds 387 tokens, but the model's vocab_size is 1024)" -- "$lamina" "$ok" -z "$tmp/tok.bin"
    # default tokenizer: tokenizer.bin beside the checkpoint
    cp "$ok" "$tmp/alone.bin"
    expect 1 "$tmp/tokenizer.bin" -- "$lamina" "$tmp/alone.bin"
    cp "$models/tok1024-kjv.bin" "$tmp/tokenizer.bin"
    expect 0 "generated" -- "$lamina" "$tmp/alone.bin" -n 8
}

group_bad_flags() {
    expect 2 "unknown option '--frobnicate' \(see lamina --help\)" -- "$lamina" --frobnicate
    expect 2 "unknown option '-q'" -- "$lamina" -q 3
    expect 2 "-t: 'abc' is not a number" -- "$lamina" -t abc
    expect 2 "-t: -1 is out of range \(at least 0\)" -- "$lamina" -t -1
    expect 2 "-p: 1.5 is out of range \(from 0 to 1\)" -- "$lamina" -p 1.5
    expect 2 "-p: -0.1 is out of range" -- "$lamina" -p -0.1
    expect 2 "-n: -1 is out of range" -- "$lamina" -n -1
    expect 2 "-n: '2.5' is not an integer" -- "$lamina" -n 2.5
    expect 2 "-s: '-3' is not a non-negative integer" -- "$lamina" -s -3
    expect 2 "-s: '12x' is not a non-negative integer" -- "$lamina" -s 12x
    expect 2 "--threads: 0 is out of range" -- "$lamina" --threads 0
    expect 2 "-m: 'talk' is not a mode \(generate or chat\)" -- "$lamina" -m talk
    expect 2 "-i needs a value" -- "$lamina" -i
    expect 2 "unexpected argument 'two.bin'" -- "$lamina" one.bin two.bin
    expect 2 "tokenize needs a TEXT argument" -- "$lamina" tokenize
    expect 2 "info needs a checkpoint argument" -- "$lamina" info
}

group_prompts() {
    local prompt
    prompt=$(printf 'And it came to pass %.0s' $(seq 1 40))
    expect 1 "the prompt is 202 tokens \(with BOS\) but only 32 fit in -n 32 steps" -- "$lamina" -n 32 -i "$prompt"
    expect 0 "prompt 202 tokens" -- "$lamina" -n 210 -t 0 -i "$prompt"
    # invalid UTF-8 falls back to byte tokens
    expect 0 "generated" -- "$lamina" -n 40 -i "$(printf 'God \xff\xfe\x80 said \xe2\x82')"
    # -n 0 and -n beyond seq_len use the model's seq_len (256)
    expect 0 "generated 251 tokens" -- "$lamina" -n 0 -t 0 -i "And it came to pass"
    expect 0 "generated 251 tokens" -- "$lamina" -n 100000 -t 0 -i "And it came to pass"
    # the demo: no arguments
    expect 0 "prompt 6 tokens" -- "$lamina" -s 1
    grep -q "^And it came to pass" "$tmp/out" || fail "the demo does not start with its prompt: $(head -c 80 "$tmp/out")"
    # same seed, same text; streaming ends with a newline
    "$lamina" -s 7 -n 64 >"$tmp/a" 2>/dev/null
    same_output "$tmp/a" -- "$lamina" -s 7 -n 64
}

group_chat() {
    local z=(-z "$models/tok1024-kjv.bin") m=$models/kjv1m.bin
    # three turns (a blank line is not a turn); with seed 2 every answer ends in EOS
    printf 'Who is the LORD?\n\nAnd who is Moses?\nWhat is the law?\n' |
        "$lamina" "$m" "${z[@]}" -m chat -s 2 -n 256 >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] || fail "chat over a pipe failed: $(cat "$tmp/err")"
    [ "$(grep -c '^Assistant: ' "$tmp/out")" = 3 ] && pass || fail "chat: want 3 answers: $(cat "$tmp/out")"
    grep -q "User:" "$tmp/out" && fail "chat printed a User: prompt to a pipe" || pass
    # a system prompt and -i as the first turn: the prompt is the Llama 2 template
    # (the demo model is not trained for chat, so only the template is checked)
    local n
    n=$("$lamina" tokenize "$(printf '[INST] <<SYS>>\nSpeak as a prophet.\n<</SYS>>\n\nWho art thou? [/INST]')" | wc -w)
    "$lamina" "$m" "${z[@]}" -m chat -y "Speak as a prophet." -i "Who art thou?" -n 256 -t 0 </dev/null >"$tmp/out" 2>"$tmp/err"
    grep -q "prompt $n tokens" "$tmp/err" && grep -q "^Assistant: " "$tmp/out" && pass || fail "chat -y/-i: want prompt $n tokens: $(cat "$tmp/err")"
    # a long line (no fixed-size buffer) fills the context: said, exit 0
    head -c 3000 /dev/zero | tr '\0' 'a' >"$tmp/long"
    echo >>"$tmp/long"
    "$lamina" "$m" "${z[@]}" -m chat -n 256 <"$tmp/long" >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] && grep -q "context full: 0 of 256 positions used" "$tmp/err" && pass || fail "long chat line: $(cat "$tmp/err")"
    yes 'Tell me more of the kings of Israel' | head -50 | "$lamina" "$m" "${z[@]}" -m chat -n 128 -s 5 >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] && grep -q "context full" "$tmp/err" && pass || fail "chat past the context: $(cat "$tmp/err")"
    # EOF at once ends cleanly
    "$lamina" "$m" "${z[@]}" -m chat </dev/null >"$tmp/out" 2>"$tmp/err" && pass || fail "chat on empty stdin: $(cat "$tmp/err")"
}

group_commands() {
    "$lamina" tokenize -z "$shared/tokenizers/llama2-32k.bin" "hello world" >"$tmp/out" 2>"$tmp/err"
    [ "$(cat "$tmp/out")" = "1 22172 3186" ] && pass || fail "tokenize: $(cat "$tmp/out" "$tmp/err")"
    "$lamina" tokenize "" >"$tmp/out" && [ "$(cat "$tmp/out")" = "1" ] && pass || fail "tokenize empty: $(cat "$tmp/out")"
    "$lamina" info "$models/kjv1m.q80.bin" >"$tmp/out" 2>"$tmp/err"
    for want in "format: *v2 \(Q8_0" "dim 128, hidden_dim 352, n_layers 5, n_heads 4, n_kv_heads 2, vocab_size 1024, seq_len 256" \
        "group size: *32" "classifier: *shared" "\(1190144 bytes\)" "KV cache" "kernels:"; do
        grep -Eq "$want" "$tmp/out" && pass || fail "info lacks /$want/: $(cat "$tmp/out" "$tmp/err")"
    done
    "$lamina" info "$models/stories260K.bin" >"$tmp/out" && grep -q "format: *v0" "$tmp/out" && pass || fail "info v0"
    # quantize: byte for byte what llama2.c's exporter wrote, from v0 and from v1
    for src in kjv1m.bin kjv1m.v1.bin; do
        "$lamina" quantize "$models/$src" "$tmp/q.bin" 2>"$tmp/err" && cmp -s "$tmp/q.bin" "$models/kjv1m.q80.bin" &&
            pass || fail "quantize $src differs from kjv1m.q80.bin: $(cat "$tmp/err")"
    done
    "$lamina" quantize "$models/kjv1m.bin" "$tmp/q16.bin" --group-size 16 2>/dev/null &&
        "$lamina" info "$tmp/q16.bin" | grep -q "group size: *16" && pass || fail "quantize --group-size 16"
    expect 0 "generated" -- "$lamina" "$tmp/q16.bin" -z "$models/tok1024-kjv.bin" -n 16
    expect 1 "group size 48 must divide dim 128 and hidden_dim 352" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.bin" --group-size 48
    expect 1 "already Q8_0" -- "$lamina" quantize "$models/kjv1m.q80.bin" "$tmp/x.bin"
    expect 1 "$tmp/none/x.bin.partial: cannot write: No such file" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/none/x.bin"
    expect 2 "quantize needs an input and an output checkpoint" -- "$lamina" quantize "$models/kjv1m.bin"
    [ ! -e "$tmp/x.bin" ] && pass || fail "a failed quantize left an output file"
    "$lamina" --help >"$tmp/out" && grep -q "usage: lamina" "$tmp/out" && pass || fail "--help"
    "$lamina" --version >"$tmp/out" && grep -q "^lamina [0-9]" "$tmp/out" && grep -q "^cpu: " "$tmp/out" && pass || fail "--version"
}

# lamina bench: a tiny run prints the table and JSON with every configuration
# (numbers are never checked: they are timings), and bad options are errors.
group_bench() {
    local small=(--shape 260K --reps 2 --warmup 0 --prompt-tokens 8 --gen-tokens 8 --threads 1,2)
    "$lamina" bench "${small[@]}" --json "$tmp/b.json" >"$tmp/out" 2>"$tmp/err" ||
        fail "bench: exit $?: $(tail -n 3 "$tmp/err")"
    for want in "^memory read bandwidth: [0-9.]+ GB/s \(1 thread\), [0-9.]+ GB/s \(2 threads\)" \
        "^fp32 FMA peak \([a-z0-9+ ()]+\): [0-9.]+ GFLOP/s \(1 thread\)" \
        "^shape +dtype +isa +thr +prefill tok/s" "^260K +f32 .* 1 [0-9]" "^260K +q8 .* 2 [0-9]"; do
        grep -Eq "$want" "$tmp/out" && pass || fail "bench table lacks /$want/: $(cat "$tmp/out")"
    done
    for want in '"name": "prefill/260K/f32/[a-z0-9]+/threads:1_median"' '"aggregate_name": "min"' \
        '"tok_per_s": [0-9]' '"GFLOPs": [0-9]' '"weight_GBps": [0-9]' '"mem_bw_GBps_threads_2"' \
        '"fma_GFLOPs_threads_1"'; do
        grep -Eq "$want" "$tmp/b.json" && pass || fail "bench JSON lacks /$want/"
    done
    "$lamina" bench "${small[@]}" --no-probes >"$tmp/out" 2>"$tmp/err" && ! grep -q "bandwidth" "$tmp/out" &&
        grep -Eq "^260K +q8" "$tmp/out" && pass || fail "bench --no-probes: $(cat "$tmp/out" "$tmp/err")"
    expect 2 "unknown option '--frobnicate'" -- "$lamina" bench --frobnicate
    expect 2 "shape" -- "$lamina" bench --shape 3B
    expect 2 "threads" -- "$lamina" bench --threads 0
    expect 1 "cannot write $tmp/none/b.json" -- "$lamina" bench "${small[@]}" --json "$tmp/none/b.json"
}

"group_$group"
echo "$group: $passes passed, $failures failed"
[ "$failures" = 0 ]
