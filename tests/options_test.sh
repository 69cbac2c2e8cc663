#!/usr/bin/env bash
# One option table (src/options): every command that reads an option reads it
# with the same grammar and bounds, refuses it with the same one-line error
# (exit 2, before touching any file), and lists it in its --help.
# usage: options_test.sh LAMINA
set -u
lamina=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passes=0 failures=0
pass() { passes=$((passes + 1)); }
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
}

# expect STATUS PATTERN -- command...: exit STATUS and, when it is not 0, one
# stderr line matching PATTERN (an extended regex) and nothing on stdout.
expect() {
    local status=$1 pattern=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    if [ "$got" != "$status" ]; then
        fail "$* -> exit $got, want $status; stderr: $(head -c 300 "$tmp/err")"
    elif ! grep -Eq -- "$pattern" "$tmp/err"; then
        fail "$* -> stderr lacks /$pattern/: $(head -c 300 "$tmp/err")"
    elif [ "$(wc -l <"$tmp/err")" != 1 ]; then
        fail "$* -> error is not one line: $(cat "$tmp/err")"
    elif [ -s "$tmp/out" ]; then
        fail "$* -> printed output before failing: $(head -c 200 "$tmp/out")"
    else
        pass
    fi
}

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
    expect 2 "^lamina: error: --ctx: 0 is out of range \(from 1 to 1.07374e\+09\)" -- "$lamina" $p --ctx 0
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

echo "options: $passes passed, $failures failed"
[ "$failures" = 0 ]
