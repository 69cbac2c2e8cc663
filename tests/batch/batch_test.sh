#!/usr/bin/env bash
# End-to-end tests of `lamina batch`.
# usage: batch_test.sh LAMINA JSONL_GET DATA GROUP
#   LAMINA     the lamina executable; JSONL_GET the helper (jsonl_get.c)
#   DATA       tests/data; GROUP one of: equivalence text bad_input signal output files ids
#              limits shard strings choices
# Every case asserts something that can fail; a kernel set this CPU lacks is
# reported as skipped with the reason, the others still run.
set -u
lamina=$1 get=$2 data=$3 group=$4
models=$data/models
tok=$models/tok1024-kjv.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 passes=0

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 16 prompts of different lengths (1 to ~60 tokens).
prompts=(
    "And"
    "In the beginning God created the heaven and the earth"
    "And it came to pass"
    "Blessed are the poor in spirit: for theirs is the kingdom of heaven. Blessed are they that mourn"
    "The LORD is my shepherd"
    "Thou shalt"
    "And the king said unto Joab, Go now, number the people from Dan even to Beersheba, that I may know"
    "Let there be light"
    ""
    "Now the serpent was more subtil than any beast of the field which the LORD God had made. And he said unto the woman, Yea, hath God said, Ye shall not eat of every tree of the garden"
    "Jesus wept"
    "For God so loved the world"
    "Vanity of vanities, saith the Preacher"
    "And Moses said"
    "O give thanks unto the LORD; for he is good: for his mercy endureth for ever. O give thanks unto the God of gods"
    "Hear, O Israel"
)

# requests.jsonl: the 16 prompts, each with its own seed and settings; some
# bounded by max_tokens, the others by -n.
make_requests() {
    local i=0 p extra
    for p in "${prompts[@]}"; do
        case $((i % 4)) in
        0) extra='"temperature":1.0,"top_p":0.9' ;;
        1) extra='"temperature":0.8,"top_p":0.5,"max_tokens":40' ;;
        2) extra='"temperature":0' ;;
        3) extra='"temperature":1.2,"top_p":1,"max_tokens":7' ;;
        esac
        printf '{"id":"r%d","prompt":"%s","seed":%d,%s}\n' "$i" "$p" $((1000 + i)) "$extra"
        i=$((i + 1))
    done
}

# The kernel sets this binary has ("built:" in --version) that this CPU runs.
runnable_isas() {
    local built isa
    built=$("$lamina" --version | sed -n 's/.*(built: \(.*\))$/\1/p')
    [ -n "$built" ] || fail "lamina --version has no 'built:' list"
    for isa in $built; do
        if "$lamina" --isa "$isa" --version >/dev/null 2>"$tmp/isa_err"; then
            echo "$isa"
        else
            echo "SKIP kernel set $isa: $(cat "$tmp/isa_err")" >&2
        fi
    done
}

# One thread unless a case asks for more: the output is the same (the
# equivalence group checks it), and two threads crawl on a loaded machine.
run_batch() { "$lamina" batch --threads 1 "$@" 2>"$tmp/err"; }
cli() { "$lamina" --threads 1 "$@"; }

# One prompt alone and among 15 others, every kernel set, 1 and 2 threads,
# fp32 and Q8_0: every request's record is the same.
group_equivalence() {
    make_requests >"$tmp/req.jsonl"
    local isas model isa threads par
    isas=$(runnable_isas)
    local default
    default=$("$lamina" --version | sed -n 's/^kernels: \([a-z0-9]*\).*/\1/p')
    for model in kjv1m.bin kjv1m.q80.bin; do
        local m=$models/$model ref=$tmp/ref-$model.jsonl
        # the reference: each request alone (one slot), the default kernel set;
        # every kernel set, thread count and batch must give it bit for bit
        run_batch "$m" -z "$tok" -n 128 --parallel 1 --threads 1 "$tmp/req.jsonl" >"$ref" \
            || fail "$model --parallel 1: exit $?: $(cat "$tmp/err")"
        [ "$("$get" --check "$ref")" = 16 ] && pass || fail "$model: want 16 records"
        # the target alone in its own file
        sed -n 4p "$tmp/req.jsonl" >"$tmp/one.jsonl"
        run_batch "$m" -z "$tok" -n 128 "$tmp/one.jsonl" >"$tmp/one.out"
        cmp -s "$tmp/one.out" <(sed -n 4p "$ref") && pass \
            || fail "$model: request 4 alone differs from the reference"
        for isa in $isas; do
            for threads in 1 2; do
                for par in 1 16 5; do
                    "$lamina" batch "$m" -z "$tok" -n 128 --parallel $par --threads $threads \
                        --isa "$isa" "$tmp/req.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err" \
                        || fail "$model $isa: exit $?: $(cat "$tmp/err")"
                    if cmp -s "$tmp/out.jsonl" "$ref"; then
                        pass
                    else
                        if [ $par = 1 ]; then # each request alone: not a batching problem
                            fail "$model --isa $isa --threads $threads: a request alone differs" \
                                "from the default kernel set's ($default) text"
                        else
                            fail "$model --isa $isa --threads $threads --parallel $par differs" \
                                "from each request alone"
                        fi
                        diff "$ref" "$tmp/out.jsonl" | head -4
                    fi
                done
            done
        done
    done
}

# text == what the CLI prints (echo), the chat template's answer, stop strings.
group_text() {
    make_requests | sed 's/{"id"/{"echo":true,"id"/' >"$tmp/req.jsonl"
    local model i
    for model in kjv1m.bin kjv1m.q80.bin; do
        local m=$models/$model
        run_batch "$m" -z "$tok" -n 128 "$tmp/req.jsonl" >"$tmp/out.jsonl" \
            || fail "$model: exit $?: $(cat "$tmp/err")"
        for i in $(seq 0 15); do
            local rec=$((i + 1)) t p n
            local line
            line=$(sed -n ${rec}p "$tmp/req.jsonl")
            t=$(sed 's/.*"temperature":\([0-9.]*\).*/\1/' <<<"$line")
            p=$(grep -q '"top_p"' <<<"$line" && sed 's/.*"top_p":\([0-9.]*\).*/\1/' <<<"$line" || echo 0.9)
            n=128
            if grep -q max_tokens <<<"$line"; then # -n = prompt_tokens + max_tokens - 1
                n=$(($("$get" "$tmp/out.jsonl" $rec prompt_tokens) + $(sed 's/.*"max_tokens":\([0-9]*\).*/\1/' <<<"$line") - 1))
            fi
            cli "$m" -z "$tok" -i "${prompts[$i]}" -s $((1000 + i)) -t "$t" -p "$p" -n $n \
                >"$tmp/cli.txt" 2>/dev/null
            { "$get" "$tmp/out.jsonl" $rec text; echo; } >"$tmp/batch.txt"
            if cmp -s "$tmp/cli.txt" "$tmp/batch.txt"; then
                pass
            else
                fail "$model request $i (-t $t -p $p -n $n): text + newline differs from the CLI's output"
                diff <(head -c 300 "$tmp/cli.txt") <(head -c 300 "$tmp/batch.txt") | head -4
            fi
        done
    done

    # chat: a messages request answers as `lamina -m chat -y SYS -i USER`
    local m=$models/kjv1m.bin
    printf '%s\n' '{"messages":[{"role":"system","content":"Speak as a prophet."},{"role":"user","content":"Who art thou?"}],"seed":7,"temperature":0.8}' \
        | run_batch "$m" -z "$tok" -n 200 >"$tmp/chat.jsonl" || fail "chat: exit $?: $(cat "$tmp/err")"
    cli "$m" -z "$tok" -m chat -y "Speak as a prophet." -i "Who art thou?" -s 7 -t 0.8 -n 200 \
        </dev/null >"$tmp/cli.txt" 2>/dev/null
    { printf 'Assistant: '; "$get" "$tmp/chat.jsonl" 1 text; echo; } >"$tmp/batch.txt"
    cmp -s "$tmp/cli.txt" "$tmp/batch.txt" && pass || fail "chat answer differs from lamina -m chat"

    # stop strings: the text cut before the first " the", finish_reason stop
    printf '{"prompt":"And it came to pass","seed":11,"max_tokens":120}\n' >"$tmp/nostop.jsonl"
    printf '{"prompt":"And it came to pass","seed":11,"max_tokens":120,"stop":["QQQ"," the"]}\n' >"$tmp/stop.jsonl"
    run_batch "$m" -z "$tok" "$tmp/nostop.jsonl" >"$tmp/a.jsonl"
    run_batch "$m" -z "$tok" "$tmp/stop.jsonl" >"$tmp/b.jsonl"
    local full cut
    full=$("$get" "$tmp/a.jsonl" 1 text)
    cut=$("$get" "$tmp/b.jsonl" 1 text)
    [[ $full == *" the"* ]] || fail "stop: the unstopped text has no ' the' to test with: $full"
    [ "$cut" = "${full%%" the"*}" ] && pass || fail "stop: got '$cut', want '${full%%" the"*}'"
    [ "$("$get" "$tmp/b.jsonl" 1 finish_reason)" = stop ] && pass || fail "stop: finish_reason"
    [ "$("$get" "$tmp/a.jsonl" 1 finish_reason)" = length ] && pass || fail "max_tokens: finish_reason"
    [ "$("$get" "$tmp/a.jsonl" 1 completion_tokens)" = 120 ] && pass || fail "max_tokens: 120 tokens"
}

# Bad lines: error records naming the line and the problem, the others done,
# exit 1 with a count on stderr.
group_bad_input() {
    local m=$models/kjv1m.bin long
    long=$(printf 'And the LORD spake unto Moses, saying, %.0s' $(seq 1 20))
    {
        echo '{"prompt":"And it came to pass","seed":1,"max_tokens":5}'
        echo 'this is not json'
        echo '{"max_tokens":5}'
        echo '{"prompt":"x","max_tokens":"five"}'
        echo '{"prompt":"x","colour":"red"}'
        echo "{\"prompt\":\"$long\"}"
        echo ''
        echo '{"id":"last","prompt":"Thou shalt","seed":2,"max_tokens":5}'
        echo '{"prompt":"x","seed":1}{"prompt":"y"}'
        echo '[1,2,3]'
    } >"$tmp/bad.jsonl"
    "$lamina" batch "$m" -z "$tok" -n 64 --threads 1 "$tmp/bad.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
    local rc=$?
    [ $rc = 1 ] && pass || fail "bad input: exit $rc, want 1"
    [ "$("$get" --check "$tmp/out.jsonl")" = 9 ] && pass || fail "want 9 records (the blank line skipped)"
    grep -q "lamina: error: 7 of 9 requests failed (first: line 2: not valid JSON" "$tmp/err" && pass \
        || fail "stderr count: $(cat "$tmp/err")"
    local want=(
        "1|length|null"
        "2|error|line 2: not valid JSON"
        "3|error|line 3: no 'prompt' or 'messages'"
        "4|error|line 4: field 'max_tokens': expected an integer, got a string"
        "5|error|line 5: field 'colour': unknown field"
        "6|error|line 6: the prompt is"
        "8|length|null"
        "9|error|line 9: not valid JSON (text after the object"
        "10|error|line 10: expected a JSON object, got an array"
    )
    local r=1 w
    for w in "${want[@]}"; do
        local id=${w%%|*} rest=${w#*|}
        local fin=${rest%%|*} err=${rest#*|}
        local got_id got_fin got_err
        got_id=$("$get" "$tmp/out.jsonl" $r id)
        got_fin=$("$get" "$tmp/out.jsonl" $r finish_reason)
        got_err=$("$get" "$tmp/out.jsonl" $r error)
        [ "$id" = 8 ] && id=last
        [ "$got_id" = "$id" ] && [ "$got_fin" = "$fin" ] && [[ $got_err == "$err"* ]] && pass \
            || fail "record $r: got id=$got_id $got_fin '$got_err', want id=$id $fin '$err'"
        r=$((r + 1))
    done
    # usage errors: exit 2, one line
    "$lamina" batch "$m" --parallel 0 </dev/null >/dev/null 2>"$tmp/err"
    [ $? = 2 ] && grep -q "^lamina: error: --parallel" "$tmp/err" && pass || fail "--parallel 0: $(cat "$tmp/err")"
    "$lamina" batch "$m" --shard 3/3 </dev/null >/dev/null 2>"$tmp/err"
    [ $? = 2 ] && grep -q "^lamina: error: --shard" "$tmp/err" && pass || fail "--shard 3/3: $(cat "$tmp/err")"
    "$lamina" batch "$m" -z "$tok" "$tmp/absent.jsonl" >/dev/null 2>"$tmp/err"
    [ $? = 1 ] && grep -q "absent.jsonl: No such file" "$tmp/err" && pass || fail "absent input: $(cat "$tmp/err")"
    "$lamina" batch --help | grep -q "0-based" && pass || fail "--help does not explain --shard"
}

# SIGTERM / SIGINT mid-run: whole records, running ones cancelled, exit 143 / 130.
group_signal() {
    local m=$models/kjv1m.bin sig want i
    for i in $(seq 1 40); do
        printf '{"prompt":"And it came to pass","seed":%d}\n' $i
    done >"$tmp/many.jsonl"
    for sig in TERM INT; do
        want=$([ $sig = TERM ] && echo 143 || echo 130)
        # input from a FIFO that stays open: the runner also waits on its input
        rm -f "$tmp/fifo" "$tmp/out.jsonl"
        mkfifo "$tmp/fifo"
        "$lamina" batch "$m" -z "$tok" -n 256 --parallel 4 --threads 1 <"$tmp/fifo" \
            >"$tmp/out.jsonl" 2>"$tmp/err" &
        local pid=$!
        exec 3>"$tmp/fifo"
        cat "$tmp/many.jsonl" >&3
        # wait for the first records (the run is under way), then signal
        for _ in $(seq 1 200); do
            [ -s "$tmp/out.jsonl" ] && break
            sleep 0.05
        done
        kill -$sig $pid
        wait $pid
        local rc=$?
        exec 3>&-
        [ "$rc" = "$want" ] && pass || fail "SIG$sig: exit $rc, want $want: $(cat "$tmp/err")"
        local n
        n=$("$get" --check "$tmp/out.jsonl") && pass || fail "SIG$sig: a partial record"
        [ "${n:-0}" -ge 1 ] && [ "${n:-0}" -lt 40 ] && pass || fail "SIG$sig: $n records"
        grep -q '"finish_reason":"cancelled"' "$tmp/out.jsonl" && pass \
            || fail "SIG$sig: no cancelled record"
        grep -q "stopped by signal" "$tmp/err" && pass || fail "SIG$sig: stderr: $(cat "$tmp/err")"
    done
}

# Output errors: a full disk, a closed pipe.
group_output() {
    local m=$models/kjv1m.bin i
    for i in $(seq 1 24); do
        printf '{"prompt":"And it came to pass","seed":%d,"max_tokens":20}\n' $i
    done >"$tmp/req.jsonl"
    "$lamina" batch "$m" -z "$tok" --threads 1 -o /dev/full "$tmp/req.jsonl" 2>"$tmp/err"
    local rc=$?
    [ $rc = 1 ] && grep -q "lamina: error: writing /dev/full: No space left on device" "$tmp/err" \
        && pass || fail "-o /dev/full: exit $rc: $(cat "$tmp/err")"
    "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/req.jsonl" >/dev/full 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && grep -q "writing stdout: No space left on device" "$tmp/err" && pass \
        || fail ">/dev/full: exit $rc: $(cat "$tmp/err")"
    { "$lamina" batch "$m" -z "$tok" --threads 1 --parallel 1 "$tmp/req.jsonl" 2>"$tmp/err"; echo $? >"$tmp/rc"; } \
        | head -n 1 >/dev/null
    rc=$(cat "$tmp/rc")
    [ "$rc" = 1 ] && grep -q "writing stdout: Broken pipe" "$tmp/err" && pass \
        || fail "closed pipe: exit $rc: $(cat "$tmp/err")"
    [ "$(grep -c 'lamina: error' "$tmp/err")" = 1 ] && pass || fail "closed pipe: not one error line"
}

# -o never destroys an input (the model, the tokenizer, the JSONL input, also
# through a symbolic or hard link, or stdin's file), refused before anything
# is written; a regular output is a temporary renamed into place at the end.
group_files() {
    local m=$tmp/m.bin t=$tmp/tokenizer.bin rc
    cp "$models/kjv1m.bin" "$m" && cp "$tok" "$t"
    echo '{"prompt":"And it came to pass","seed":1,"max_tokens":5}' >"$tmp/in.jsonl"
    cp "$tmp/in.jsonl" "$tmp/in.orig"
    ln "$tmp/in.jsonl" "$tmp/hard.jsonl"
    ln -s "$m" "$tmp/model-link.bin"
    # refused: exit 1, one line naming the clash, every file as it was
    refused() { # PATTERN -- command...
        local pattern=$1
        shift 2
        "$@" >"$tmp/refused.out" 2>"$tmp/err"
        rc=$?
        [ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -Eq "^lamina: error: .*$pattern.*; refusing to overwrite it$" "$tmp/err" \
            && pass || fail "$* -> exit $rc, want 1 and /$pattern/: $(cat "$tmp/err")"
        cmp -s "$m" "$models/kjv1m.bin" && cmp -s "$t" "$tok" && cmp -s "$tmp/in.jsonl" "$tmp/in.orig" \
            && pass || fail "$* changed an input"
        ls "$tmp" | grep -q '\.tmp-' && fail "$* left a temporary" || pass
    }
    refused "in.jsonl: is the same file as the input (.*in.jsonl)" -- "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/in.jsonl"
    refused "hard.jsonl: is the same file as the input" -- "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/hard.jsonl"
    refused "m.bin: is the same file as the model" -- "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$m"
    refused "model-link.bin: is the same file as the model" -- "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/model-link.bin"
    refused "tokenizer.bin: is the same file as the tokenizer" -- "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$t"
    refused "tokenizer.bin: is the same file as the tokenizer" -- "$lamina" batch "$m" -z "$t" --threads 1 "$tmp/in.jsonl" -o "$t"
    refused "in.jsonl: is the same file as the input \(stdin\)" -- "$lamina" batch "$m" --threads 1 -o "$tmp/in.jsonl" <"$tmp/in.jsonl"
    # stdout appended to the input would feed the records back as requests
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" >>"$tmp/in.jsonl" 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && grep -q "^lamina: error: stdout: is the same file as the input" "$tmp/err" \
        && cmp -s "$tmp/in.jsonl" "$tmp/in.orig" && pass || fail ">> input: exit $rc: $(cat "$tmp/err")"
    # a read-only output and a directory are refused and kept
    echo precious >"$tmp/ro.jsonl" && chmod 444 "$tmp/ro.jsonl"
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/ro.jsonl" 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && grep -q "ro.jsonl: is read-only" "$tmp/err" && [ "$(cat "$tmp/ro.jsonl")" = precious ] \
        && pass || fail "read-only -o: exit $rc: $(cat "$tmp/err")"
    mkdir "$tmp/dir"
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/dir" 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && grep -q "dir: is a directory" "$tmp/err" && pass || fail "-o DIR: exit $rc: $(cat "$tmp/err")"
    # a symbolic link to another file: that file is replaced, the link kept;
    # the mode of a replaced file is kept; a device is written as it is
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/want.jsonl" 2>/dev/null || fail "plain -o: exit $?"
    echo old >"$tmp/real.jsonl" && chmod 640 "$tmp/real.jsonl" && ln -s real.jsonl "$tmp/link.jsonl"
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o "$tmp/link.jsonl" 2>"$tmp/err" && [ -L "$tmp/link.jsonl" ] \
        && cmp -s "$tmp/real.jsonl" "$tmp/want.jsonl" && [ "$(stat -c %a "$tmp/real.jsonl")" = 640 ] \
        && pass || fail "-o through a symbolic link: $(cat "$tmp/err")"
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o /dev/null 2>"$tmp/err" && pass || fail "-o /dev/null: $(cat "$tmp/err")"
    "$lamina" batch "$m" --threads 1 "$tmp/in.jsonl" -o - </dev/null >"$tmp/dash.jsonl" 2>"$tmp/err" \
        && cmp -s "$tmp/dash.jsonl" "$tmp/want.jsonl" && pass || fail "-o -: $(cat "$tmp/err")"
    # a failed write (here a file size limit: EFBIG) leaves OUT as it was
    for i in $(seq 1 24); do
        printf '{"prompt":"And it came to pass","seed":%d,"max_tokens":20}\n' $i
    done >"$tmp/req.jsonl"
    echo old >"$tmp/out.jsonl"
    (
        ulimit -f 2
        trap '' XFSZ
        exec "$lamina" batch "$m" --threads 1 "$tmp/req.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err"
    )
    rc=$?
    [ $rc = 1 ] && grep -q "^lamina: error: writing $tmp/out.jsonl: File too large$" "$tmp/err" &&
        [ "$(cat "$tmp/out.jsonl")" = old ] && pass || fail "a failed write: exit $rc, OUT $(head -c 80 "$tmp/out.jsonl"): $(cat "$tmp/err")"
    ls "$tmp" | grep -q '\.tmp-' && fail "a failed write left a temporary" || pass
    # while it runs, OUT keeps its old content (the records go to OUT.tmp-PID-N);
    # SIGTERM and SIGINT rename the whole records written so far into place
    local sig want i pid n
    for i in $(seq 1 40); do
        printf '{"prompt":"And it came to pass","seed":%d}\n' $i
    done >"$tmp/many.jsonl"
    for sig in TERM INT; do
        want=$([ $sig = TERM ] && echo 143 || echo 130)
        echo old >"$tmp/out.jsonl"
        rm -f "$tmp/fifo" && mkfifo "$tmp/fifo"
        "$lamina" batch "$m" -n 256 --parallel 4 --threads 1 -o "$tmp/out.jsonl" <"$tmp/fifo" 2>"$tmp/err" &
        pid=$!
        exec 3>"$tmp/fifo"
        cat "$tmp/many.jsonl" >&3
        for _ in $(seq 1 200); do # the first records are in the temporary
            [ -s "$tmp/out.jsonl.tmp-$pid-0" ] && break
            sleep 0.05
        done
        [ "$(cat "$tmp/out.jsonl")" = old ] && pass || fail "SIG$sig: OUT changed before the end"
        kill -$sig $pid
        wait $pid
        rc=$?
        exec 3>&-
        [ $rc = "$want" ] && pass || fail "SIG$sig with -o: exit $rc, want $want: $(cat "$tmp/err")"
        n=$("$get" --check "$tmp/out.jsonl") && [ "${n:-0}" -ge 1 ] && [ "${n:-0}" -lt 40 ] && pass \
            || fail "SIG$sig with -o: $n records"
        grep -q '"finish_reason":"cancelled"' "$tmp/out.jsonl" && pass || fail "SIG$sig with -o: no cancelled record"
        ls "$tmp" | grep -q '\.tmp-' && fail "SIG$sig with -o: a temporary left" || pass
    done
}

# Ids come back byte for byte as the line wrote them (numbers are never read
# as doubles); an id that cannot be echoed, or one given twice, is an error
# record naming the field.
group_ids() {
    local m=$models/kjv1m.bin id i
    local ids=(5000000000000001 5000000000000000 9007199254740991 9007199254740993 1e400 -0 1.50
        12345678901234567890123 1E+2 0.1e-7 '"a\u00e9\ud83d\ude00"' '"\u0041b"' '"caf\u00e9 \/x"'
        '"plain"')
    for id in "${ids[@]}"; do
        printf '{"id":%s,"prompt":"And","max_tokens":2,"seed":1}\n' "$id"
    done >"$tmp/ids.jsonl"
    "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/ids.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err" \
        && pass || fail "distinct ids: exit $?: $(cat "$tmp/err")"
    i=1
    for id in "${ids[@]}"; do
        [ "$(sed -n "${i}s/^{\"id\":\(.*\),\"text\":.*/\1/p" "$tmp/out.jsonl")" = "$id" ] && pass \
            || fail "id $id came back as $(sed -n "${i}p" "$tmp/out.jsonl" | cut -c1-80)"
        i=$((i + 1))
    done
    # the same value twice: the second is an error record (1.5 = 1.50, 0 = -0,
    # "Ab" = "\u0041b", 100 = 1E+2, a line number = an id), the others run
    {
        printf '{"id":1.50,"prompt":"And","max_tokens":2}\n'
        printf '{"id":-0,"prompt":"And","max_tokens":2}\n'
        printf '{"id":"\\u0041b","prompt":"And","max_tokens":2}\n'
        printf '{"id":1E+2,"prompt":"And","max_tokens":2}\n'
        printf '{"id":6,"prompt":"And","max_tokens":2}\n'
        printf '{"prompt":"And","max_tokens":2}\n'
        printf '{"id":1.5,"prompt":"And","max_tokens":2}\n'
        printf '{"id":0,"prompt":"And","max_tokens":2}\n'
        printf '{"id":"Ab","prompt":"And","max_tokens":2}\n'
        printf '{"id":100,"prompt":"And","max_tokens":2}\n'
        printf '{"id":"1.5","prompt":"And","max_tokens":2}\n'
        printf '{"id":15,"prompt":"And","max_tokens":2}\n'
    } >"$tmp/dup.jsonl"
    "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/dup.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err"
    local rc=$?
    [ $rc = 1 ] && grep -q "lamina: error: 5 of 12 requests failed" "$tmp/err" && pass \
        || fail "duplicate ids: exit $rc: $(cat "$tmp/err")"
    local want=(
        "6|no 'id', and its line number is the id of line 5; ids must be unique"
        "7|field 'id': line 1 has the same id; ids must be unique"
        "8|field 'id': line 2 has the same id; ids must be unique"
        "9|field 'id': line 3 has the same id; ids must be unique"
        "10|field 'id': line 4 has the same id; ids must be unique"
    )
    local w r
    for w in "${want[@]}"; do
        r=${w%%|*}
        [ "$("$get" "$tmp/out.jsonl" "$r" error)" = "line $r: ${w#*|}" ] && pass \
            || fail "duplicate, record $r: $("$get" "$tmp/out.jsonl" "$r" error)"
    done
    [ "$("$get" "$tmp/out.jsonl" 11 error)" = null ] && [ "$("$get" "$tmp/out.jsonl" 12 error)" = null ] \
        && pass || fail "a string \"1.5\" and id 15 are not duplicates"
    # ids that cannot be echoed: an error record naming the field, with the
    # line number as id; every record valid UTF-8 and JSON
    {
        printf '{"id":"caf\xe9","prompt":"And"}\n'
        printf '{"id":"\xc0\xaf","prompt":"And"}\n'
        printf '{"id":"a\\u0000b","prompt":"And"}\n'
        printf '{"id":"a\tb","prompt":"And"}\n'
        printf '{"id":01,"prompt":"And"}\n'
        printf '{"id":1.,"prompt":"And"}\n'
        printf '{"id":1e99999999999999999999,"prompt":"And"}\n'
        printf '{"id":"\xed\xa0\x80","prompt":"And"}\n'
    } >"$tmp/badid.jsonl"
    "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/badid.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err"
    rc=$?
    # Strings are checked by the request parser (src/request), numbers by the id scanner.
    want=("the string is not valid UTF-8" "the string is not valid UTF-8" 'the string has a \u0000 (NUL) character'
        "a raw control character (0x09)" "not a JSON number" "not a JSON number"
        "a number whose exponent is out of range" "the string is not valid UTF-8")
    [ $rc = 1 ] && [ "$("$get" --check "$tmp/out.jsonl")" = 8 ] && pass || fail "bad ids: exit $rc, $(cat "$tmp/err")"
    iconv -f UTF-8 -t UTF-8 "$tmp/out.jsonl" >/dev/null 2>&1 && pass || fail "bad ids: a record is not UTF-8"
    r=1
    for w in "${want[@]}"; do
        [[ $("$get" "$tmp/out.jsonl" $r error) == "line $r: field 'id': $w"* ]] && [ "$("$get" "$tmp/out.jsonl" $r id)" = $r ] \
            && pass || fail "bad id on line $r: id $("$get" "$tmp/out.jsonl" $r id): $("$get" "$tmp/out.jsonl" $r error)"
        r=$((r + 1))
    done
}

# Line and prompt limits: a line over --max-line-bytes (default 1 MiB for a
# small context) is an error record without being held whole or tokenized; a
# prompt that cannot fit its context is refused before tokenizing.
group_limits() {
    local m=$models/kjv1m.bin rc
    # a 20 MB line between two ordinary ones
    {
        echo '{"id":"a","prompt":"And","max_tokens":2,"seed":1}'
        printf '{"id":"huge","prompt":"'
        head -c 20000000 /dev/zero | tr '\0' 'x'
        echo '"}'
        echo '{"id":"b","prompt":"Thou","max_tokens":2,"seed":1}'
    } >"$tmp/big.jsonl"
    local timer=()
    if [ -x /usr/bin/time ] && ! ldd "$lamina" 2>/dev/null | grep -q libasan; then
        timer=(/usr/bin/time -f "%M" -o "$tmp/rss")
    fi
    "${timer[@]}" "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/big.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && [ "$("$get" --check "$tmp/out.jsonl")" = 3 ] && pass || fail "20 MB line: exit $rc: $(cat "$tmp/err")"
    [ "$("$get" "$tmp/out.jsonl" 2 id)" = huge ] &&
        [ "$("$get" "$tmp/out.jsonl" 2 error)" = "line 2: the line is longer than 1048576 bytes, the limit (--max-line-bytes)" ] &&
        [ "$("$get" "$tmp/out.jsonl" 1 error)" = null ] && [ "$("$get" "$tmp/out.jsonl" 3 error)" = null ] &&
        pass || fail "20 MB line: $(cut -c1-200 "$tmp/out.jsonl")"
    if [ ${#timer[@]} -gt 0 ]; then # held whole, it was 20 MB; tokenized, over a GB
        [ "$(tail -n 1 "$tmp/rss")" -lt 65536 ] && pass || fail "20 MB line: peak RSS $(tail -n 1 "$tmp/rss") KB"
    else
        echo "note: no /usr/bin/time, or AddressSanitizer: the peak RSS is not checked"
    fi
    # --max-line-bytes N: N bytes pass (the '\n' not counted), N + 1 do not,
    # also from a pipe and as the last line without '\n'
    local line='{"prompt":"And","max_tokens":2,"seed":1}' n
    n=${#line}
    { echo "$line"; echo "$line "; printf '%s ' "$line"; } >"$tmp/edge.jsonl"
    cat "$tmp/edge.jsonl" | "$lamina" batch "$m" -z "$tok" --threads 1 --max-line-bytes "$n" >"$tmp/out.jsonl" 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && [ "$("$get" "$tmp/out.jsonl" 1 error)" = null ] &&
        [ "$("$get" "$tmp/out.jsonl" 2 error)" = "line 2: the line is longer than $n bytes, the limit (--max-line-bytes)" ] &&
        [ "$("$get" "$tmp/out.jsonl" 3 error)" = "line 3: the line is longer than $n bytes, the limit (--max-line-bytes)" ] &&
        pass || fail "--max-line-bytes $n: exit $rc: $(cat "$tmp/out.jsonl" "$tmp/err")"
    "$lamina" batch "$m" --max-line-bytes 0 </dev/null >/dev/null 2>"$tmp/err"
    [ $? = 2 ] && grep -q "^lamina: error: --max-line-bytes" "$tmp/err" && pass || fail "--max-line-bytes 0: $(cat "$tmp/err")"
    "$lamina" batch --help | grep -q -- "--max-line-bytes N" && pass || fail "--help lacks --max-line-bytes"
    # a prompt of 400 kB within the line limit: refused by its bytes (a token
    # covers at most 10 bytes in this vocabulary), before tokenizing; a prompt
    # that passes that bound is still refused by its token count
    {
        printf '{"prompt":"%s"}\n' "$(head -c 400000 /dev/zero | tr '\0' 'x')"
        printf '{"messages":[{"role":"user","content":"%s"}],"max_tokens":1}\n' "$(head -c 400000 /dev/zero | tr '\0' 'x')"
        printf '{"prompt":"%s"}\n' "$(printf 'And it came to pass %.0s' $(seq 1 20))"
    } >"$tmp/long.jsonl"
    "$lamina" batch "$m" -z "$tok" -n 64 --threads 1 "$tmp/long.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
    [ "$("$get" "$tmp/out.jsonl" 1 error)" = "line 1: the prompt is at least 40002 tokens (400001 bytes) but the context holds 64 positions (raise max_tokens or -n)" ] &&
        [ "$("$get" "$tmp/out.jsonl" 2 error)" = "line 2: the prompt is at least 40001 tokens (400000 bytes) but the context holds 256 positions" ] &&
        [[ $("$get" "$tmp/out.jsonl" 3 error) == "line 3: the prompt is "[0-9]*" tokens (with BOS) but the context holds 64 positions"* ]] &&
        pass || fail "long prompts: $(cut -c1-250 "$tmp/out.jsonl")"
}

# Sharding: one file over two workers with GNU Parallel gives one process's output.
group_shard() {
    command -v parallel >/dev/null || { echo "SKIP: GNU parallel is not installed (apt-get install parallel)"; exit 77; }
    local m=$models/kjv1m.bin i
    for i in $(seq 1 20); do
        printf '{"id":%d,"prompt":"%s","seed":%d,"max_tokens":%d}\n' $i "${prompts[$((i % 16))]}" \
            $((50 + i)) $((5 + i % 7))
    done >"$tmp/req.jsonl"
    "$lamina" batch "$m" -z "$tok" --threads 1 "$tmp/req.jsonl" >"$tmp/one.jsonl" 2>/dev/null \
        || fail "one process: exit $?"
    # --shard I/2 per job, outputs concatenated, then ordered by id
    parallel --will-cite -j2 "$lamina" batch "$m" -z "$tok" --threads 1 --shard {}/2 "$tmp/req.jsonl" \
        ::: 0 1 >"$tmp/shards.jsonl" 2>"$tmp/err" || fail "parallel --shard: $(cat "$tmp/err")"
    sort -t: -k2 -n "$tmp/shards.jsonl" >"$tmp/merged.jsonl"
    cmp -s "$tmp/merged.jsonl" "$tmp/one.jsonl" && pass || fail "--shard 0/2 + 1/2 ordered by id differs"
    cmp -s "$tmp/shards.jsonl" "$tmp/one.jsonl" && fail "the shards' raw concatenation should be out of order" || pass
    # --pipe: parallel cuts stdin into blocks of 6 lines, --keep-order restores the order
    parallel --will-cite -j2 --pipe -N6 --keep-order "$lamina" batch "$m" -z "$tok" --threads 1 \
        <"$tmp/req.jsonl" >"$tmp/piped.jsonl" 2>"$tmp/err" || fail "parallel --pipe: $(cat "$tmp/err")"
    cmp -s "$tmp/piped.jsonl" "$tmp/one.jsonl" && pass || fail "parallel --pipe output differs"
}

# Request strings (issue 21): \u0000 and invalid UTF-8 are error records
# naming the field, user strings are cut at character boundaries, stop
# strings have limits, messages out of order name the message; every record
# (and stderr's summary) is valid UTF-8.
group_strings() {
    local m=$models/kjv1m.bin eacute long256 long257 i
    eacute=$(printf '\xc3\xa9')
    long256=$(printf 'a%.0s' $(seq 1 256))
    long257=${long256}b
    {
        echo '{"id":"nul","prompt":"And\u0000 it came","max_tokens":3}'
        printf '{"id":"utf","prompt":"caf\xc3","max_tokens":3}\n'
        printf '{"id":"key","prompt":"x","k\xff":1}\n'
        printf '{"id":"role","messages":[{"role":"a'
        for i in $(seq 1 30); do printf '%s' "$eacute"; done
        printf '","content":"x"}]}\n'
        echo '{"id":"stops","prompt":"x","stop":["a","b","c","d","e"]}'
        echo "{\"id\":\"long\",\"prompt\":\"x\",\"stop\":[\"$long257\"]}"
        echo '{"id":"order","messages":[{"role":"user","content":"u"},{"role":"assistant","content":"a"}]}'
        echo '{"id":"sys2","messages":[{"role":"system","content":"s"},{"role":"system","content":"t"},{"role":"user","content":"u"}]}'
        echo "{\"id\":\"ok\",\"prompt\":\"And\",\"seed\":1,\"max_tokens\":5,\"stop\":[\"$long256\",\"Q\",\"R\",\"\u00e9\"]}"
    } >"$tmp/strings.jsonl"
    "$lamina" batch "$m" -z "$tok" -n 64 --threads 1 "$tmp/strings.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
    local rc=$?
    [ $rc = 1 ] && pass || fail "strings: exit $rc, want 1: $(cat "$tmp/err")"
    [ "$("$get" --check "$tmp/out.jsonl")" = 9 ] && pass || fail "strings: want 9 records"
    iconv -f UTF-8 -t UTF-8 "$tmp/out.jsonl" >/dev/null 2>&1 && pass \
        || fail "strings: the records are not valid UTF-8: $(iconv -f UTF-8 -t UTF-8 "$tmp/out.jsonl" 2>&1 >/dev/null)"
    iconv -f UTF-8 -t UTF-8 "$tmp/err" >/dev/null 2>&1 && pass || fail "strings: stderr is not valid UTF-8"
    local want=(
        "nul|line 1: field 'prompt': the string has a \\u0000 (NUL) character"
        "utf|line 2: field 'prompt': the string is not valid UTF-8"
        "key|line 3: a field name is not valid UTF-8"
        "role|line 4: field 'messages[0].role': 'a$eacute"
        "stops|line 5: field 'stop': 5 strings, more than the limit of 4"
        "long|line 6: field 'stop[0]': 257 bytes, more than the limit of 256"
        "order|line 7: field 'messages[1]': the last message must be a user message, not an assistant message"
        "sys2|line 8: field 'messages[1]': a system message where a user message must come"
        "ok|"
    )
    local r=1 w
    for w in "${want[@]}"; do
        local id=${w%%|*} err=${w#*|} got_id got_err
        got_id=$("$get" "$tmp/out.jsonl" $r id)
        got_err=$("$get" "$tmp/out.jsonl" $r error)
        if [ -z "$err" ]; then
            [ "$got_id" = "$id" ] && [ "$got_err" = null ] && pass \
                || fail "record $r: got id=$got_id '$got_err', want id=$id and no error"
        else
            [ "$got_id" = "$id" ] && [[ $got_err == "$err"* ]] && pass \
                || fail "record $r: got id=$got_id '$got_err', want id=$id '$err'"
        fi
        r=$((r + 1))
    done
}

# "n" choices: a record with a "choices" array whose choice i is what a line
# of its own with seed + i gives; the prompt counted once. And the prompt
# cache: the same records with it on and off, over lines sharing prefixes.
group_choices() {
    local i s
    : >"$tmp/n.jsonl"
    : >"$tmp/single.jsonl"
    for i in 0 1 2; do
        case $i in
        0) s='"prompt":"And it came to pass","temperature":0.9,"max_tokens":30' ;;
        1) s='"prompt":"In the beginning","echo":true,"stop":[","],"max_tokens":40' ;;
        2) s='"messages":[{"role":"user","content":"Who was David?"}],"temperature":0.7,"max_tokens":20' ;;
        esac
        printf '{"id":"n%d",%s,"seed":%d,"n":4}\n' $i "$s" $((50 + 10 * i)) >>"$tmp/n.jsonl"
        for c in 0 1 2 3; do
            printf '{"id":"s%d.%d",%s,"seed":%d}\n' $i $c "$s" $((50 + 10 * i + c)) >>"$tmp/single.jsonl"
        done
    done
    printf '{"id":"one","prompt":"Jesus wept","seed":3,"max_tokens":5,"n":1}\n' >>"$tmp/n.jsonl"
    printf '{"id":"bad","prompt":"x","n":5}\n' >>"$tmp/n.jsonl"
    "$lamina" batch "$models/kjv1m.bin" -z "$tok" --parallel 4 --prompt-cache-mb 0 \
        "$tmp/n.jsonl" >"$tmp/n.out" 2>"$tmp/err"
    [ $? = 1 ] && pass || fail "n: exit status (one bad line): $(cat "$tmp/err")"
    "$lamina" batch "$models/kjv1m.bin" -z "$tok" --parallel 3 --prompt-cache-mb 0 \
        "$tmp/single.jsonl" >"$tmp/single.out" 2>"$tmp/err" || fail "singles: $(cat "$tmp/err")"
    python3 - "$tmp/n.out" "$tmp/single.out" <<'PY' && pass || fail "n: records differ from single lines"
import json, sys
n = [json.loads(l) for l in open(sys.argv[1])]
single = {r["id"]: r for r in map(json.loads, open(sys.argv[2]))}
ok = True
for i in range(3):
    r = n[i]
    ones = [single[f"s{i}.{c}"] for c in range(4)]
    want = [{"index": c, "text": o["text"], "finish_reason": o["finish_reason"]} for c, o in enumerate(ones)]
    if list(r) != ["id", "choices", "prompt_tokens", "completion_tokens", "error"] or r["choices"] != want \
            or r["prompt_tokens"] != ones[0]["prompt_tokens"] or r["error"] is not None \
            or r["completion_tokens"] != sum(o["completion_tokens"] for o in ones):
        print("record", r, "\nwant", want); ok = False
if list(n[3]) != ["id", "text", "prompt_tokens", "completion_tokens", "finish_reason", "error"]:
    print("n = 1 changed the record:", n[3]); ok = False
if n[4]["finish_reason"] != "error" or "field 'n'" not in n[4]["error"]:
    print("n over --parallel:", n[4]); ok = False
sys.exit(0 if ok else 1)
PY
    # the prompt cache: lines sharing prefixes, in two orders of arrival
    : >"$tmp/shared.jsonl"
    for i in $(seq 0 23); do
        printf '{"prompt":"%s%s","seed":%d,"temperature":%s,"max_tokens":%d}\n' \
            "${prompts[$((i % 3 + 1))]}" "$([ $((i % 2)) = 1 ] && echo ", and the")" $((700 + i)) \
            "$([ $((i % 3)) = 0 ] && echo 0 || echo 0.8)" $((5 + i * 3 % 30)) >>"$tmp/shared.jsonl"
    done
    for p in 1 4; do
        "$lamina" batch "$models/kjv1m.bin" -z "$tok" --parallel $p --prompt-cache-mb 0 \
            "$tmp/shared.jsonl" >"$tmp/off.out" 2>/dev/null
        "$lamina" batch "$models/kjv1m.bin" -z "$tok" --parallel $p --prompt-cache-mb 8 \
            "$tmp/shared.jsonl" >"$tmp/on.out" 2>/dev/null
        [ -s "$tmp/off.out" ] && cmp -s "$tmp/off.out" "$tmp/on.out" && pass \
            || fail "--parallel $p: records differ with the prompt cache on and off"
    done
}

case $group in
equivalence | text | bad_input | signal | output | files | ids | limits | shard | strings | choices) "group_$group" ;;
*) echo "unknown group $group" >&2; exit 2 ;;
esac
echo "$group: $passes passed, $failures failed"
[ $failures = 0 ]
