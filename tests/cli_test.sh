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
            expect 2 "--isa: kernel set '$isa' needs the CPU feature .*, which this CPU lacks" -- "$lamina" --isa "$isa"
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
    expect 1 "the KV cache for 1073741824 positions needs 2560.0 GiB" -- "$lamina" "$f" "${tok[@]}" -n 1073741824
    # no context given: the most that fits, said in one line (batch with no
    # requests starts and ends); info shows the fitted context per type
    : >"$tmp/empty.jsonl"
    "$lamina" batch "$f" "${tok[@]}" --parallel 4 "$tmp/empty.jsonl" >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] && grep -Eq "^lamina: context: [0-9]+ positions \(KV f32 [0-9.]+ GiB per sequence; the model's 1073741824 would need 2560.0 GiB x 4 sequences, [0-9.]+ GiB available\)$" "$tmp/err" &&
        pass || fail "batch with no --ctx on a 2^30-position model: $(cat "$tmp/err")"
    "$lamina" info "$f" >"$tmp/out" 2>"$tmp/err"
    grep -Eq "^kv f16: +1.25 KiB per position; 0.3 MiB for -n 256; [0-9]+ positions fit now \([0-9.]+ MiB x 1 sequence\), less than seq_len$" "$tmp/out" &&
        pass || fail "info on a 2^30-position model: $(grep kv "$tmp/out")"
    cp "$v2" "$f" && patch "$f" 37 "$(le32 0)"
    expect 1 "invalid header: group size 0 must be positive and divide dim 128" -- "$lamina" "$f" "${tok[@]}"
    cp "$v2" "$f" && patch "$f" 37 "$(le32 48)"
    expect 1 "group size 48 must be positive and divide dim 128" -- "$lamina" "$f" "${tok[@]}"
    head -c 1190000 "$v2" >"$f"
    expect 1 "file is 1190000 bytes but its header \(v2, .*\) implies 1190144" -- "$lamina" "$f" "${tok[@]}"
    # tokenizers
    # larger than the model's 1024 entries can take: refused before it is read
    expect 1 "llama2-32k.bin: 433869 bytes hold more than the model.s vocab_size of 1024 tokens" -- "$lamina" "$ok" -z "$shared/tokenizers/llama2-32k.bin"
    expect 1 "$tmp/none.bin" -- "$lamina" "$ok" -z "$tmp/none.bin"
    head -c 5000 "$models/tok1024-kjv.bin" >"$tmp/tok.bin"
    expect 1 "tok.bin: .*(truncated|holds 387 tokens, but the model's vocab_size is 1024)" -- "$lamina" "$ok" -z "$tmp/tok.bin"
    # default tokenizer: tokenizer.bin beside the checkpoint
    cp "$ok" "$tmp/alone.bin"
    expect 1 "$tmp/tokenizer.bin: no tokenizer beside the checkpoint; give its tokenizer.bin with -z PATH" -- "$lamina" "$tmp/alone.bin"
    cp "$models/tok1024-kjv.bin" "$tmp/tokenizer.bin"
    expect 0 "generated" -- "$lamina" "$tmp/alone.bin" -n 8
}

group_bad_flags() {
    expect 2 "unknown option '--frobnicate' \(see lamina --help\)" -- "$lamina" --frobnicate
    expect 2 "unknown option '-q'" -- "$lamina" -q 3
    expect 2 "-t: 'abc' is not a decimal number" -- "$lamina" -t abc
    expect 2 "-t: -1 is out of range \(from 0 to 3.40282e\+38\)" -- "$lamina" -t -1
    expect 2 "-p: 1.5 is out of range \(from 0 to 1\)" -- "$lamina" -p 1.5
    expect 2 "-p: -0.1 is out of range" -- "$lamina" -p -0.1
    expect 2 "-n: -1 is out of range" -- "$lamina" -n -1
    expect 2 "-n: '2.5' is not a decimal integer" -- "$lamina" -n 2.5
    expect 2 "-s: -3 is out of range \(from 0 to 18446744073709551615\)" -- "$lamina" -s -3
    expect 2 "-s: '12x' is not a decimal integer" -- "$lamina" -s 12x
    expect 2 "--threads: 0 is out of range" -- "$lamina" --threads 0
    expect 2 "-m: 'talk' is not a mode \(generate or chat\)" -- "$lamina" -m talk
    expect 2 "-i needs a value" -- "$lamina" -i
    expect 2 "unexpected argument 'two.bin'" -- "$lamina" one.bin two.bin
    expect 2 "tokenize needs a TEXT argument" -- "$lamina" tokenize
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
    # on one terminal (stdout and stderr alike), the summary starts its own line
    if command -v script >/dev/null; then
        script -qec "$(printf '%q ' "$lamina" -s 3 -n 40)" /dev/null </dev/null | tr -d '\r' >"$tmp/tty"
        grep -q "^lamina: prompt 6 tokens" "$tmp/tty" && pass ||
            fail "on a terminal the summary is not on its own line: $(tail -c 200 "$tmp/tty")"
    fi
}

group_chat() {
    local z=(-z "$models/tok1024-kjv.bin") m=$models/kjv1m.bin
    # three turns (a blank line is not a turn); with seed 2 every answer ends in EOS
    printf 'Who is the LORD?\n\nAnd who is Moses?\nWhat is the law?\n' |
        "$lamina" "$m" "${z[@]}" -m chat -s 2 -n 256 >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] || fail "chat over a pipe failed: $(cat "$tmp/err")"
    [ "$(grep -c '^Assistant: ' "$tmp/out")" = 3 ] && pass || fail "chat: want 3 answers: $(cat "$tmp/out")"
    grep -q "User:" "$tmp/out" && fail "chat printed a User: prompt to a pipe" || pass
    # the texts of lamina's chat before it ran on the batch engine (lm_chat at
    # c5347fa): each turn continues the conversation's KV and random stream
    cmp -s "$tmp/out" "$shared/golden/kjv1m_chat_s2.txt" && pass || fail "chat -s 2: not the recorded text"
    yes 'Tell me more of the kings of Israel' | head -50 |
        "$lamina" "$models/kjv1m.q80.bin" "${z[@]}" -m chat -s 11 -t 0.9 -p 0.9 -n 256 >"$tmp/out" 2>"$tmp/err"
    cmp -s "$tmp/out" "$shared/golden/kjv1m_q80_chat_s11.txt" && pass || fail "chat -s 11 (q80): not the recorded text"
    # a system prompt and -i as the first turn: the prompt is the Llama 2 template
    # (the demo model is not trained for chat, so only the template is checked)
    local n
    n=$("$lamina" tokenize "$(printf '[INST] <<SYS>>\nSpeak as a prophet.\n<</SYS>>\n\nWho art thou? [/INST]')" | wc -w)
    "$lamina" "$m" "${z[@]}" -m chat -y "Speak as a prophet." -i "Who art thou?" -n 256 -t 0 </dev/null >"$tmp/out" 2>"$tmp/err"
    grep -q "prompt $n tokens" "$tmp/err" && grep -q "^Assistant: " "$tmp/out" && pass || fail "chat -y/-i: want prompt $n tokens: $(cat "$tmp/err")"
    # a first turn that cannot fit is an error, as a prompt too long in generate mode
    head -c 3000 /dev/zero | tr '\0' 'a' >"$tmp/long"
    echo >>"$tmp/long"
    "$lamina" "$m" "${z[@]}" -m chat -n 256 <"$tmp/long" >"$tmp/out" 2>"$tmp/err"
    [ $? = 1 ] && grep -q "the first turn is more than 2560 bytes: it cannot fit in the context of 256 positions" "$tmp/err" &&
        pass || fail "long chat line: $(cat "$tmp/err")"
    "$lamina" "$m" "${z[@]}" -m chat -n 256 -i "$(cat "$tmp/long")" </dev/null >"$tmp/out" 2>"$tmp/err"
    [ $? = 1 ] && grep -q "the first turn is 3016 tokens (with the template) but the context holds 256" "$tmp/err" &&
        pass || fail "long -i chat turn: $(cat "$tmp/err")"
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
    # --parallel N: the KV caches of N sequences (kjv1m: 5 layers x 2 x 64 kv_dim x 4 bytes
    # = 2.5 KiB a position; 16 x 256 positions = 10.0 MiB, 4 x 100 = 1.0 MiB)
    "$lamina" info "$models/kjv1m.bin" --parallel 16 >"$tmp/out" &&
        grep -q "KV caches 10.0 MiB for 16 sequences of 256 positions" "$tmp/out" && pass ||
        fail "info --parallel 16: $(cat "$tmp/out")"
    "$lamina" info "$models/kjv1m.bin" --parallel 4 -n 100 >"$tmp/out" &&
        grep -q "KV caches 1.0 MiB for 4 sequences of 100 positions" "$tmp/out" && pass ||
        fail "info --parallel 4 -n 100: $(cat "$tmp/out")"
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
    expect 1 "$tmp/none/x.bin: cannot create a temporary beside it: No such file" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/none/x.bin"
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
    "$lamina" bench "${small[@]}" --no-probes --dtype q8 --batch 1,3 --json "$tmp/batch.json" \
        >"$tmp/out" 2>"$tmp/err" || fail "bench --batch: exit $?: $(tail -n 3 "$tmp/err")"
    for want in "^batch +dtype" "^260K x3 +q8 .* 2 [0-9]"; do
        grep -Eq "$want" "$tmp/out" && pass || fail "bench --batch table lacks /$want/: $(cat "$tmp/out")"
    done
    for want in '"name": "decode/260K/q8/[a-z0-9]+/batch:3/threads:2_median"' \
        '"name": "prefill/260K/q8/[a-z0-9]+/batch:1/threads:1"' '"batch": 3'; do
        grep -Eq "$want" "$tmp/batch.json" && pass || fail "bench --batch JSON lacks /$want/"
    done
    expect 2 "batch" -- "$lamina" bench --batch 0
    expect 2 "unknown option '--frobnicate'" -- "$lamina" bench --frobnicate
    expect 2 "shape" -- "$lamina" bench --shape 3B
    expect 2 "threads" -- "$lamina" bench --threads 0
    expect 1 "cannot write $tmp/none/b.json" -- "$lamina" bench "${small[@]}" --json "$tmp/none/b.json"
    # --json never overwrites the model it measures (once truncated before loading it)
    cp "$models/kjv1m.bin" "$tmp/bm.bin" && ln -s bm.bin "$tmp/bm-link.bin"
    expect 1 "cannot write $tmp/bm-link.bin: is the same file as the model \($tmp/bm.bin\); refusing to overwrite it" -- \
        "$lamina" bench "${small[@]}" --model "$tmp/bm.bin" --json "$tmp/bm-link.bin"
    cmp -s "$tmp/bm.bin" "$models/kjv1m.bin" && pass || fail "bench --json changed the model"
}

# AddressSanitizer and qemu-user reserve huge address spaces: checks under
# `ulimit -v` cannot run in such a build or through an emulator wrapper
# (said, not counted).
asan_build() { ldd "$lamina" 2>/dev/null | grep -q libasan || [ "$(head -c 2 "$lamina")" = "#!" ]; }

# status_and_line STATUS PATTERN: the last command's exit status (in $rc) and
# a one-line stderr ($tmp/err) matching PATTERN.
status_and_line() {
    if [ "$rc" != "$1" ]; then
        fail "${FUNCNAME[1]}: exit $rc, want $1: $(head -c 300 "$tmp/err")"
    elif ! grep -Eq -- "$2" "$tmp/err" || [ "$(wc -l <"$tmp/err")" != 1 ]; then
        fail "${FUNCNAME[1]}: want one line /$2/: $(head -c 300 "$tmp/err")"
    else
        pass
    fi
}

# quantize never destroys a file: not the input, not a link, not a device,
# not a read-only file, not a file of the user's; interrupted, it leaves nothing.
group_files() {
    local in=$tmp/in.bin q=$tmp/q.bin
    cp "$models/kjv1m.bin" "$in"
    expect 1 "in.bin: is the input checkpoint; write to another path" -- "$lamina" quantize "$in" "$in"
    ln "$in" "$tmp/hard.bin"
    expect 1 "hard.bin: is the input checkpoint" -- "$lamina" quantize "$in" "$tmp/hard.bin"
    ln -s "$in" "$tmp/link.bin"
    expect 1 "link.bin: is a symbolic link; give the path of the file itself" -- "$lamina" quantize "$in" "$tmp/link.bin"
    cmp -s "$in" "$models/kjv1m.bin" && [ -L "$tmp/link.bin" ] && pass || fail "quantize changed its input or the link"
    mkfifo "$tmp/fifo"
    expect 1 "fifo: not a regular file \(a FIFO\); refusing to replace it" -- "$lamina" quantize "$in" "$tmp/fifo"
    if mknod "$tmp/null" c 1 3 2>/dev/null; then # root: a character device like /dev/null
        expect 1 "null: not a regular file \(a character device\)" -- "$lamina" quantize "$in" "$tmp/null"
        [ -c "$tmp/null" ] && pass || fail "quantize replaced a character device"
    fi
    echo "precious" >"$tmp/ro.bin" && chmod 444 "$tmp/ro.bin"
    expect 1 "ro.bin: is read-only; refusing to replace it" -- "$lamina" quantize "$in" "$tmp/ro.bin"
    [ "$(cat "$tmp/ro.bin")" = precious ] && pass || fail "quantize replaced a read-only file"
    # the user's own OUT.partial is not touched; no temporary is left behind
    echo "mine" >"$q.partial"
    expect 0 "wrote" -- "$lamina" quantize "$in" "$q"
    [ "$(cat "$q.partial")" = mine ] && cmp -s "$q" "$models/kjv1m.q80.bin" && pass || fail "quantize touched OUT.partial"
    ls "$tmp" | grep -q "tmp-" && fail "a temporary was left: $(ls "$tmp")" || pass
    # an existing OUT keeps its permissions
    chmod 640 "$q" && "$lamina" quantize "$in" "$q" 2>/dev/null && [ "$(stat -c %a "$q")" = 640 ] && pass || fail "quantize changed OUT's mode"
    # paths too long for the temporary's name: an error, nothing written
    local long
    long=$tmp/$(printf 'x%.0s' $(seq 1 250)).bin
    expect 1 "cannot create a temporary beside it: File name too long" -- "$lamina" quantize "$in" "$long"
    # a path of 4095 bytes: once the temporary's name was cut to OUT's own
    local deep
    deep=$(printf 'd/%.0s' $(seq 1 2040))
    (cd "$tmp" && mkdir -p "$deep" && cp "$in" "$deep/m.bin" && ln -s "$deep/m.bin" short.bin)
    (cd "$tmp" && "$lamina" quantize "$deep/m.bin" "$deep/m.bin" 2>"$tmp/err")
    rc=$? status_and_line 1 "m.bin: is the input checkpoint"
    (cd "$tmp" && "$lamina" quantize short.bin "${deep}x.bin" 2>"$tmp/err")
    rc=$? status_and_line 1 "cannot write: path too long"
    (cd "$tmp" && cmp -s "$deep/m.bin" "$in") && pass || fail "the deep input changed"
    # SIGINT and SIGTERM while writing remove the temporary. A 58 MB all-zero
    # v1 checkpoint takes long enough to be caught writing.
    local big=$tmp/big.bin
    python3 - "$big" <<'PY' || { fail "python3 is needed to write the test checkpoint"; return; }
import struct, sys
d, h, l, v = 512, 1024, 4, 8000
size = 256 + (2 * l * d + d) * 4 + v * d * 4 + (4 * d * d + 3 * d * h) * l * 4
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IIiiiiiiiB", 0x616B3432, 1, d, h, l, 8, 8, v, 256, 1).ljust(256, b"\0"))
    f.truncate(size)
PY
    for sig in INT TERM; do
        rm -f "$q"
        env --default-signal=INT "$lamina" quantize "$big" "$q" 2>"$tmp/err" &
        local pid=$! i
        for i in $(seq 1 2000); do compgen -G "$q.tmp-*" >/dev/null && break; sleep 0.001; done
        kill -"$sig" "$pid"
        wait "$pid"
        rc=$?
        if [ "$rc" = 0 ]; then
            echo "note: quantize finished before SIG$sig arrived; not counted"
        else
            [ "$rc" = $((128 + $(kill -l "$sig"))) ] && [ ! -e "$q" ] && ! compgen -G "$q.tmp-*" >/dev/null &&
                pass || fail "SIG$sig during quantize: rc $rc, left: $(ls "$tmp" | grep q.bin)"
        fi
    done
    # quantize reads the input where it is mapped, with no packed copy of the
    # weights (a 7B fp32 file is larger than many machines' memory): 110 MB of
    # address space hold the 58 MB mapping and the program, not a second copy.
    if asan_build; then
        echo "note: AddressSanitizer or emulator: quantize under ulimit -v is not run"
    else
        rm -f "$q"
        (ulimit -v 112000 && "$lamina" quantize "$big" "$q" 2>"$tmp/err") && [ -s "$q" ] &&
            pass || fail "quantize under ulimit -v 112000 (a copy of the weights?): $(cat "$tmp/err")"
    fi
}

# Every write is checked: a full disk, a closed stdout, a reader gone.
group_writes() {
    local m=$models/kjv1m.bin
    for args in "-n 32" "info $m" "tokenize hi" "--version" "--help"; do
        # shellcheck disable=SC2086
        "$lamina" $args >/dev/full 2>"$tmp/err"
        rc=$? status_and_line 1 "lamina: error: cannot write the output: No space left on device"
    done
    "$lamina" -n 32 >&- 2>"$tmp/err"
    rc=$? status_and_line 1 "cannot write the output: Bad file descriptor"
    "$lamina" tokenize hi >&- 2>"$tmp/err"
    rc=$? status_and_line 1 "cannot write the output: Bad file descriptor"
    # a closed stdout does not become the next file opened (quantize's output)
    "$lamina" quantize "$m" "$tmp/q.bin" >&- 2>"$tmp/err" && cmp -s "$tmp/q.bin" "$models/kjv1m.q80.bin" &&
        pass || fail "quantize with stdout closed: $(cat "$tmp/err")"
    # the reader leaves: with SIGPIPE ignored, an error at once (not 256 steps
    # into the void); with the default action, 141 as any filter
    (
        trap '' PIPE
        "$lamina" -n 256 2>"$tmp/err" | head -c 20 >/dev/null
        echo "${PIPESTATUS[0]}" >"$tmp/rc"
    )
    rc=$(cat "$tmp/rc") status_and_line 1 "cannot write the output: Broken pipe"
    grep -q "generated" "$tmp/err" && fail "generation went on after the pipe broke" || pass
    (
        trap - PIPE
        "$lamina" -n 256 2>/dev/null | head -c 20 >/dev/null
        echo "${PIPESTATUS[0]}" >"$tmp/rc"
    )
    [ "$(cat "$tmp/rc")" = 141 ] && pass || fail "default SIGPIPE: exit $(cat "$tmp/rc"), want 141"
}

# Only regular files are read, without blocking and within the format's size.
group_inputs() {
    local m=$models/kjv1m.bin z=(-z "$models/tok1024-kjv.bin")
    mkfifo "$tmp/fifo"
    expect 1 "fifo: not a regular file \(a FIFO\)" -- timeout 10 "$lamina" "$tmp/fifo"
    expect 1 "fifo: not a regular file \(a FIFO\)" -- timeout 10 "$lamina" -z "$tmp/fifo"
    expect 1 "fifo: not a regular file \(a FIFO\)" -- timeout 10 "$lamina" info "$tmp/fifo"
    expect 1 "fifo: not a regular file \(a FIFO\)" -- timeout 10 "$lamina" tokenize -z "$tmp/fifo" hi
    expect 1 "/dev/zero: not a regular file \(a character device\)" -- timeout 10 "$lamina" -z /dev/zero
    expect 1 "/dev/urandom: not a regular file" -- timeout 10 "$lamina" tokenize -z /dev/urandom hi
    # a regular file larger than any tokenizer with its header: refused unread
    { head -c 12532 "$models/tok1024-kjv.bin"; head -c 200000 /dev/zero; } >"$tmp/fat.bin"
    expect 1 "fat.bin: 212532 bytes hold more than the model.s vocab_size of 1024 tokens \(at most 18436 bytes" -- "$lamina" "$m" -z "$tmp/fat.bin"
    # files of another kind are named
    expect 1 "tok1024-kjv.bin: this is a llama2.c tokenizer, not a checkpoint \(give it with -z" -- "$lamina" "$models/tok1024-kjv.bin"
    expect 1 "tok1024-kjv.model: this is a sentencepiece .model file, not a llama2.c tokenizer.bin" -- "$lamina" "$m" -z "$models/tok1024-kjv.model"
    expect 1 "tok1024-kjv.model: this is a sentencepiece .model file, not a checkpoint" -- "$lamina" "$models/tok1024-kjv.model"
    expect 1 "kjv1m.bin: this is a llama2.c checkpoint \(v0\), not a tokenizer" -- "$lamina" "$m" -z "$m"
    expect 1 "kjv1m.q80.bin: this is a llama2.c checkpoint, not a tokenizer" -- "$lamina" "$m" -z "$models/kjv1m.q80.bin"
    printf 'GGUF\x03\x00\x00\x00' >"$tmp/x.gguf" && head -c 100 /dev/zero >>"$tmp/x.gguf"
    # a GGUF file is read as one (tests/gguf has the rest)
    expect 1 "x.gguf: GGUF key 'general.architecture' is missing" -- "$lamina" "$tmp/x.gguf"
    # chat: an endless line is bounded by what the context holds (memory capped
    # at 1 GiB: reading it whole would exceed that), a read error is an error
    if asan_build; then
        echo "note: AddressSanitizer or emulator: the endless chat line under ulimit -v is not run"
    else
        (
            ulimit -v 1048576
            yes | tr -d '\n' | timeout 20 "$lamina" "$m" "${z[@]}" -m chat -n 256 >/dev/null 2>"$tmp/err"
            echo "${PIPESTATUS[2]}" >"$tmp/rc"
        )
        rc=$(cat "$tmp/rc") status_and_line 1 "the first turn is more than 2560 bytes"
    fi
    "$lamina" "$m" "${z[@]}" -m chat <"$tmp" >/dev/null 2>"$tmp/err"
    rc=$? status_and_line 1 "cannot read the user's turn: Is a directory"
    # non-finite weights stop generation: a NaN norm weight (v0) and a NaN Q8_0 scale
    cp "$m" "$tmp/nan.bin" && patch "$tmp/nan.bin" 524316 '\x00\x00\xc0\x7f'
    expect 1 "non-finite logits at position 0: the checkpoint holds NaN or Inf weights" -- "$lamina" "$tmp/nan.bin" "${z[@]}"
    cp "$models/kjv1m.q80.bin" "$tmp/nanq.bin" && patch "$tmp/nanq.bin" 136976 '\x00\x00\x80\x7f'
    expect 1 "non-finite logits at position 0: the checkpoint holds NaN or Inf weights" -- "$lamina" "$tmp/nanq.bin" "${z[@]}"
    "$lamina" "$tmp/nanq.bin" "${z[@]}" -m chat -i hi </dev/null >/dev/null 2>"$tmp/err"
    rc=$? status_and_line 1 "non-finite logits at position [0-9]+: the checkpoint holds NaN"
    # a SIGBUS (the mapped model truncated) is a one-line error naming it, not
    # a bare "Bus error": here delivered while chat waits for its first turn
    cp "$m" "$tmp/bus.bin"
    mkfifo "$tmp/turns"
    "$lamina" "$tmp/bus.bin" "${z[@]}" -m chat <"$tmp/turns" >/dev/null 2>"$tmp/err" &
    local pid=$!
    exec 7>"$tmp/turns"
    sleep 1
    kill -BUS "$pid"
    wait "$pid"
    rc=$?
    exec 7>&-
    status_and_line 1 "lamina: error: $tmp/bus.bin was truncated or changed while in use"
}

# One number grammar, per-command options, --, warnings.
group_options() {
    expect 2 "-t: 1e309 is out of range \(from 0 to 3.40282e\+38\)" -- "$lamina" -t 1e309
    expect 2 "-t: 'inf' is not a decimal number" -- "$lamina" -t inf
    expect 2 "-t: 'nan' is not a decimal number" -- "$lamina" -t nan
    expect 2 "-p: '0x1p-3' is not a decimal number" -- "$lamina" -p 0x1p-3
    expect 2 "-p: ' 0.5' is not a decimal number" -- "$lamina" -p " 0.5"
    expect 2 "-n: '1e3' is not a decimal integer" -- "$lamina" -n 1e3
    expect 2 "-n: '0x10' is not a decimal integer" -- "$lamina" -n 0x10
    expect 2 "-n: 1073741825 is out of range \(from 0 to 1.07374e\+09\)" -- "$lamina" -n 1073741825
    expect 2 "-s: 18446744073709551616 is out of range" -- "$lamina" -s 18446744073709551616
    expect 2 "--threads: 4097 is out of range \(from 1 to 4096\)" -- "$lamina" --threads 4097
    expect 2 "--group-size: '' is not a decimal integer" -- "$lamina" quantize a b --group-size ""
    expect 2 "--kv-type: KV cache type 'f8' is not one of f32, f16" -- "$lamina" --kv-type f8
    expect 2 "--kv-type: KV cache type 'F16' is not one of f32, f16" -- "$lamina" batch x y --kv-type F16
    expect 2 "--kv-type: 'q8' is not one of f32, f16" -- "$lamina" perplexity x y --kv-type q8
    expect 2 "--kv-type: KV cache type 'x' is not one of f32, f16" -- "$lamina" bench --kv-type x
    expect 2 "--kv-type: KV cache type '' is not one of f32, f16" -- "$lamina" serve x --kv-type ""
    expect 0 "generated" -- "$lamina" -n 16 --kv-type f16
    expect 0 "generated" -- "$lamina" -s +5 -n 16
    expect 0 "generated" -- "$lamina" -s 18446744073709551615 -n 16 -t 0.5e0 -p .5
    expect 0 "generated" -- "$lamina" -n +16 -t 1E-2 -p 1.
    # a tiny top-p keeps the likeliest token: the greedy text, not "top-p off"
    "$lamina" -t 0 -n 64 >"$tmp/greedy" 2>/dev/null
    same_output "$tmp/greedy" -- "$lamina" -p 1e-50 -s 3 -n 64
    same_output "$tmp/greedy" -- "$lamina" -p 1e-400 -s 3 -n 64
    "$lamina" -p 0 -s 3 -n 64 2>/dev/null | cmp -s - "$tmp/greedy" && fail "-p 0 gave the greedy text" || pass
    # options that do not apply to a command
    expect 2 "-t does not apply to info" -- "$lamina" info -t 0
    expect 2 "-n does not apply to tokenize" -- "$lamina" tokenize -n 3 hi
    expect 2 "--group-size does not apply to generation" -- "$lamina" --group-size 32
    expect 2 "-z does not apply to quantize" -- "$lamina" quantize a b -z t.bin
    expect 2 "--threads does not apply to tokenize" -- "$lamina" tokenize --threads 2 hi
    # -- ends the options
    "$lamina" tokenize -- -hello >"$tmp/out" 2>"$tmp/err" && [ "$(cat "$tmp/out")" = "1 962 1022 965 573 967" ] &&
        pass || fail "tokenize -- -hello: $(cat "$tmp/out" "$tmp/err")"
    expect 2 "unknown option '-hello'" -- "$lamina" tokenize -hello
    expect 1 "-n: cannot open checkpoint: No such file" -- "$lamina" -- -n
    # LAMINA_ISA: a bad value does not break --version, and --isa overrides it
    LAMINA_ISA=bogus "$lamina" --version >"$tmp/out" 2>"$tmp/err" && grep -q "^kernels: " "$tmp/out" &&
        grep -q "LAMINA_ISA: unknown kernel set 'bogus'.*(ignored)" "$tmp/err" && pass || fail "LAMINA_ISA=bogus --version: $(cat "$tmp/err")"
    LAMINA_ISA=bogus expect 0 "\(scalar, " -- "$lamina" --isa scalar -n 16
    # threads: more than the CPUs is a warning; creation failure is one line
    "$lamina" --threads 64 -n 16 >/dev/null 2>"$tmp/err" && grep -q "lamina: warning: --threads 64 is more than the [0-9]* CPUs* available" "$tmp/err" &&
        pass || fail "--threads 64: $(cat "$tmp/err")"
    # OMP_NUM_THREADS beyond --threads' range: clamped with a warning, for every
    # subcommand (100000 once overflowed libgomp's stack while packing: SIGSEGV)
    local sub
    for sub in run run1 info batch bench; do
        case $sub in
        run) OMP_NUM_THREADS=100000 "$lamina" -s 1 -n 16 >"$tmp/out" 2>"$tmp/err" ;;
        run1) OMP_NUM_THREADS=100000,2 "$lamina" --threads 1 -s 1 -n 16 >"$tmp/out" 2>"$tmp/err" ;;
        info) OMP_NUM_THREADS=99999999999999999999 "$lamina" info "$models/kjv1m.bin" >"$tmp/out" 2>"$tmp/err" ;;
        batch) echo '{"prompt":"And","max_tokens":3,"seed":1}' |
            OMP_NUM_THREADS=100000 "$lamina" batch "$models/kjv1m.bin" -z "$models/tok1024-kjv.bin" >"$tmp/out" 2>"$tmp/err" ;;
        bench) OMP_NUM_THREADS=100000 "$lamina" bench --shape 260K --dtype f32 --threads 1 --prompt-tokens 4 --gen-tokens 4 --reps 1 --warmup 0 --no-probes >"$tmp/out" 2>"$tmp/err" ;;
        esac
        rc=$?
        [ $rc = 0 ] && [ "$(grep -c "^lamina: warning: OMP_NUM_THREADS=[0-9,]* is more than 4096 threads, the most --threads takes; using at most 4096$" "$tmp/err")" = 1 ] &&
            [ -s "$tmp/out" ] && pass || fail "OMP_NUM_THREADS too large ($sub): exit $rc: $(head -c 300 "$tmp/err")"
    done
    OMP_NUM_THREADS=4096 "$lamina" -s 1 -n 16 >/dev/null 2>"$tmp/err" && ! grep -q "OMP_NUM_THREADS" "$tmp/err" &&
        pass || fail "OMP_NUM_THREADS=4096: $(cat "$tmp/err")"
    if asan_build; then
        echo "note: AddressSanitizer or emulator: thread creation under ulimit -v is not run"
        return
    fi
    (
        ulimit -v 1048576
        OMP_STACKSIZE=4G "$lamina" --threads 2 -n 16 >/dev/null 2>"$tmp/err"
        echo $? >"$tmp/rc"
    )
    rc=$(cat "$tmp/rc") status_and_line 1 "lamina: error: cannot start [0-9]+ threads: .* \(try fewer with --threads\)"
}

# The demo model is linked in: a copy of the binary runs with no source tree.
group_demo() {
    expect 0 "prompt 6 tokens" -- "$lamina" -s 1 -n 32
    "$lamina" info >"$tmp/out" 2>"$tmp/err" && grep -q "^file: *kjv1m.bin (embedded) (4249116 bytes)" "$tmp/out" &&
        grep -q "vocab_size 1024" "$tmp/out" && pass || fail "info without a model: $(cat "$tmp/out" "$tmp/err")"
    if [ "$(head -c 2 "$lamina")" = "#!" ]; then
        echo "note: $lamina is a wrapper (emulator): the copied-binary check does not apply"
        return
    fi
    mkdir -p "$tmp/bin" "$tmp/elsewhere" && cp "$lamina" "$tmp/bin/lamina"
    (cd "$tmp/elsewhere" && env -i PATH=/usr/bin:/bin "$tmp/bin/lamina" -s 1 -n 32 >"$tmp/out" 2>"$tmp/err")
    grep -q "^And it came to pass" "$tmp/out" && pass || fail "a copied lamina: $(cat "$tmp/err")"
    if command -v strace >/dev/null; then
        strace -f -e trace=open,openat -o "$tmp/trace" "$tmp/bin/lamina" -n 8 >/dev/null 2>&1
        grep -E "kjv1m|tokenizer.bin|models/" "$tmp/trace" && fail "the demo opened a model file" || pass
    fi
}

# One option table (src/options): every command that reads an option reads it
# with the same grammar and bounds, refuses it with the same one-line error
# (exit 2, before touching any file), and lists it in its --help.
group_one_table() {
    missing=$tmp/no-such-model.bin
    # Each command's argv prefix: the options come after it; a usage error comes
    # before the (missing) model is opened, so exit 2 means the parser refused.
    declare -A prefix=([run]="$missing" [batch]="batch $missing" [serve]="serve $missing")

    for cmd in run batch serve; do
        p=${prefix[$cmd]}
        # temperature: finite, at most FLT_MAX (batch once ran 1e39 as infinity)
        expect 2 "^lamina: error: -t: 1e39 is out of range \(from 0 to 3.40282e\+38\)" -- "$lamina" $p -t 1e39
        expect 2 "^lamina: error: --temperature: 'inf' is not a decimal number" -- "$lamina" $p --temperature inf
        expect 2 "^lamina: error: -t: 'nan' is not a decimal number" -- "$lamina" $p -t nan
        expect 2 "^lamina: error: -p: 1.5 is out of range \(from 0 to 1\)" -- "$lamina" $p -p 1.5
        # threads: 1 to 4096 (serve once took 0 to 1024)
        expect 2 "^lamina: error: --threads: 0 is out of range \(from 1 to 4096\)" -- "$lamina" $p --threads 0
        expect 2 "^lamina: error: --threads: 4097 is out of range \(from 1 to 4096\)" -- "$lamina" $p --threads 4097
        # seed: 0 to 2^64-1 (serve once stopped at LONG_MAX)
        expect 2 "^lamina: error: -s: 18446744073709551616 is out of range \(from 0 to 18446744073709551615\)" -- \
            "$lamina" $p -s 18446744073709551616
        expect 1 "no-such-model" -- "$lamina" $p -s 18446744073709551615
        expect 2 "^lamina: error: -s: '0x10' is not a decimal integer" -- "$lamina" $p -s 0x10
        # steps: 0 to 2^30 (serve once stopped at 2^20); decimal integers only
        expect 1 "no-such-model" -- "$lamina" $p -n 1073741824
        expect 2 "^lamina: error: -n: 1073741825 is out of range \(from 0 to 1.07374e\+09\)" -- "$lamina" $p -n 1073741825
        expect 2 "^lamina: error: -n: '1e3' is not a decimal integer" -- "$lamina" $p -n 1e3
        expect 2 "^lamina: error: --kv-type: KV cache type 'q4' is not one of f32, f16" -- "$lamina" $p --kv-type q4
        expect 2 "^lamina: error: --chat-template: 'x' is not one of: llama2 " -- "$lamina" $p --chat-template x
        expect 2 "^lamina: error: -i needs a value|^lamina: error: -z needs a value" -- "$lamina" $p -z
        # --name=value is --name value
        expect 2 "^lamina: error: --threads: 9999 is out of range" -- "$lamina" $p --threads=9999
    done

    # bench: its lists take the same range per count
    expect 2 "^lamina: error: bench: --threads: 4097 is out of range \(from 1 to 4096\)" -- "$lamina" bench --threads 1,4097
    expect 2 "^lamina: error: bench: --threads: 0 is out of range \(from 1 to 4096\)" -- "$lamina" bench --threads 0
    expect 2 "^lamina: error: bench: --seed: -1 is out of range \(from 0 to 18446744073709551615\)" -- "$lamina" bench --seed -1
    expect 2 "^lamina: error: bench: --reps: 0 is out of range \(from 1 to 1000\)" -- "$lamina" bench --reps 0

    # batch and serve share --parallel, --ctx and --prompt-cache-mb
    for cmd in batch serve; do
        p=${prefix[$cmd]}
        expect 2 "^lamina: error: --parallel: 4097 is out of range \(from 1 to 4096\)" -- "$lamina" $p --parallel 4097
        expect 2 "^lamina: error: --ctx: -1 is out of range \(from 0 to 1.07374e\+09\)" -- "$lamina" $p --ctx -1
        expect 2 "^lamina: error: --prompt-cache-mb: -1 is out of range" -- "$lamina" $p --prompt-cache-mb -1
        expect 2 "^lamina: error: --shard does not apply to $cmd|^lamina: error: --port does not apply to $cmd" -- \
            "$lamina" $p $([ "$cmd" = batch ] && echo --port 1 || echo --shard 0/1)
    done
    expect 2 "^lamina: error: --shard: '2/2' is not I/N with 0 <= I < N" -- "$lamina" batch "$missing" --shard 2/2
    expect 2 "^lamina: error: -m does not apply to batch" -- "$lamina" batch "$missing" -m chat
    expect 2 "^lamina: error: --port: 65536 is out of range \(from 0 to 65535\)" -- "$lamina" serve "$missing" --port 65536
    expect 2 "^lamina: error: --parallel: 0 is out of range \(from 1 to 4096\)" -- "$lamina" info --parallel 0

    # --help of every command lists every option it takes, from the table.
    help_lists() { # COMMAND-ARGS... -- OPTIONS...
        local args=() opt
        while [ "$1" != "--" ]; do args+=("$1"); shift; done
        shift
        "$lamina" "${args[@]}" --help >"$tmp/help" 2>&1 || { fail "${args[*]} --help failed"; return; }
        for opt in "$@"; do
            grep -Eq -- "^ +(-[a-z], )?$opt( |$)" "$tmp/help" || { fail "${args[*]} --help lacks $opt"; return; }
        done
        # readable: no line wider than 92 columns
        awk 'length > 92 { exit 1 }' "$tmp/help" || { fail "${args[*]} --help has a line over 92 columns"; return; }
        pass
    }
    help_lists -- --temperature --top-p --seed --steps --threads --isa --kv-type --chat-template --parallel --group-size
    help_lists batch -- --temperature --top-p --seed --steps --threads --isa --kv-type --chat-template --parallel --ctx \
        --shard --output --max-line-bytes --prompt-cache-mb --no-weights-cache
    help_lists serve -- --temperature --top-p --seed --steps --threads --isa --kv-type --chat-template --parallel --ctx \
        --port --queue --api-key --alias --max-body --grace --prompt-cache-mb --no-weights-cache
    help_lists bench -- --threads --isa --kv-type --shape --dtype --batch --reps --json --seed --list-shapes
}

"group_$group"
echo "$group: $passes passed, $failures failed"
[ "$failures" = 0 ]
