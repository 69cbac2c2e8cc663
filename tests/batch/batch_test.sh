#!/usr/bin/env bash
# End-to-end tests of `lamina batch`.
# usage: batch_test.sh LAMINA JSONL_GET DATA GROUP
#   LAMINA     the lamina executable; JSONL_GET the helper (jsonl_get.c)
#   DATA       tests/data; GROUP one of: equivalence text bad_input signal output shard
#              strings
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

case $group in
equivalence | text | bad_input | signal | output | shard | strings) "group_$group" ;;
*) echo "unknown group $group" >&2; exit 2 ;;
esac
echo "$group: $passes passed, $failures failed"
[ $failures = 0 ]
