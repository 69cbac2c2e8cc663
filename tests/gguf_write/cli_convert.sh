#!/usr/bin/env bash
# `lamina convert` from the command line: usage errors, inputs never
# overwritten, unwritable targets, the default tokenizer, determinism, and an
# interrupted run that leaves no file. Usage: cli_convert.sh LAMINA DATA
set -u
lamina=$1 data=$2
models=$data/models
tok=$models/tok1024-kjv.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 passes=0

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS PATTERN -- command...: the exit status and a one-line stderr
# matching PATTERN (grep -E) for an error.
expect() {
    local status=$1 pattern=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    if [ "$got" != "$status" ]; then
        fail "$* -> exit $got, want $status; stderr: $(head -c 300 "$tmp/err")"
    elif ! grep -Eq -- "$pattern" "$tmp/err" "$tmp/out"; then
        fail "$* -> output lacks /$pattern/: $(head -c 300 "$tmp/err")"
    elif [ "$status" != 0 ] && [ "$(wc -l <"$tmp/err")" != 1 ]; then
        fail "$* -> error is not one line: $(cat "$tmp/err")"
    else
        pass
    fi
}

# usage errors: exit 2, one line
expect 2 "convert: needs an input checkpoint and an output file" -- "$lamina" convert "$models/kjv1m.bin"
expect 2 "convert: --type: not f32, f16, bf16 or q8_0: q4_0" -- "$lamina" convert a b --type q4_0
expect 2 "convert: --type needs a value" -- "$lamina" convert a b --type
expect 2 "convert: -z needs a value" -- "$lamina" convert a b -z
expect 2 "convert: unknown option --group-size" -- "$lamina" convert a b --group-size 32
expect 2 "convert: unexpected argument c" -- "$lamina" convert a b c
expect 0 "usage: lamina convert IN OUT.gguf" -- "$lamina" convert --help
expect 0 "lamina convert +write a llama2.c checkpoint as GGUF" -- "$lamina" --help

# bad inputs: exit 1, one line naming the file
in=$tmp/in.bin
cp "$models/kjv1m.bin" "$in"
expect 1 "kjv1m.q80.bin: a Q8_0 \(v2\) checkpoint; convert its fp32 original" -- \
    "$lamina" convert "$models/kjv1m.q80.bin" "$tmp/x.gguf" -z "$tok"
expect 1 "/tokenizer.bin: no tokenizer beside the checkpoint; give its tokenizer.bin with -z" -- \
    "$lamina" convert "$in" "$tmp/x.gguf"
expect 1 "llama2-32k.bin: holds 32000 tokens, but the model's vocab_size is 1024" -- \
    "$lamina" convert "$in" "$tmp/x.gguf" -z "$data/tokenizers/llama2-32k.bin"
expect 1 "this is a llama2.c tokenizer, not a checkpoint" -- "$lamina" convert "$tok" "$tmp/x.gguf" -z "$tok"
[ ! -e "$tmp/x.gguf" ] && pass || fail "a failed convert left an output file"

# the output is never an input: not the checkpoint, not the tokenizer, not
# through a hard link, not a symbolic link, not a read-only file
cp "$tok" "$tmp/tok.bin"
expect 1 "in.bin: is the input checkpoint; write to another path" -- "$lamina" convert "$in" "$in" -z "$tmp/tok.bin"
ln "$in" "$tmp/hard.gguf"
expect 1 "hard.gguf: is the input checkpoint" -- "$lamina" convert "$in" "$tmp/hard.gguf" -z "$tmp/tok.bin"
expect 1 "tok.bin: is the input tokenizer; write to another path" -- "$lamina" convert "$in" "$tmp/tok.bin" -z "$tmp/tok.bin"
ln "$tmp/tok.bin" "$tmp/hardtok.gguf"
expect 1 "hardtok.gguf: is the input tokenizer" -- "$lamina" convert "$in" "$tmp/hardtok.gguf" -z "$tmp/tok.bin"
ln -s "$tmp/other.gguf" "$tmp/link.gguf"
expect 1 "link.gguf: is a symbolic link" -- "$lamina" convert "$in" "$tmp/link.gguf" -z "$tmp/tok.bin"
echo precious >"$tmp/ro.gguf" && chmod 444 "$tmp/ro.gguf"
expect 1 "ro.gguf: is read-only; refusing to replace it" -- "$lamina" convert "$in" "$tmp/ro.gguf" -z "$tmp/tok.bin"
cmp -s "$in" "$models/kjv1m.bin" && cmp -s "$tmp/tok.bin" "$tok" && [ "$(cat "$tmp/ro.gguf")" = precious ] &&
    pass || fail "convert changed an input or a refused output"

# unwritable targets
expect 1 "none/x.gguf: cannot create a temporary beside it: No such file" -- \
    "$lamina" convert "$in" "$tmp/none/x.gguf" -z "$tok"
if [ "$(id -u)" != 0 ]; then # root writes into a read-only folder
    mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
    expect 1 "ro/x.gguf: cannot create a temporary beside it: Permission denied" -- \
        "$lamina" convert "$in" "$tmp/ro/x.gguf" -z "$tok"
fi

# tokenizer.bin beside the checkpoint by default; the same bytes on every run
mkdir "$tmp/m" && cp "$in" "$tmp/m/in.bin" && cp "$tok" "$tmp/m/tokenizer.bin"
expect 0 "wrote .*a.gguf" -- "$lamina" convert "$tmp/m/in.bin" "$tmp/a.gguf" --type q8_0
expect 0 "wrote .*b.gguf" -- "$lamina" convert "$in" "$tmp/b.gguf" --type q8_0 -z "$tok"
cmp -s "$tmp/a.gguf" "$tmp/b.gguf" && pass || fail "the default tokenizer or a second run gave other bytes"
[ "$(head -c 4 "$tmp/a.gguf")" = GGUF ] && pass || fail "no GGUF magic"
ls "$tmp" | grep -q "tmp-" && fail "a temporary was left: $(ls "$tmp")" || pass

# SIGINT and SIGTERM while writing remove the temporary: a 105 MB all-zero v1
# checkpoint with Llama 2's vocabulary takes long enough to be caught writing.
big=$tmp/big.bin out=$tmp/big.gguf
python3 - "$big" <<'PY' || fail "python3 is needed to write the test checkpoint"
import struct, sys
d, h, l, v = 512, 1024, 4, 32000
size = 256 + (2 * l * d + d) * 4 + v * d * 4 + (4 * d * d + 3 * d * h) * l * 4
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IIiiiiiiiB", 0x616B3432, 1, d, h, l, 8, 8, v, 256, 1).ljust(256, b"\0"))
    f.truncate(size)
PY
caught=0
for sig in INT TERM INT TERM; do
    rm -f "$out"
    env --default-signal=INT "$lamina" convert "$big" "$out" --type f16 \
        -z "$data/tokenizers/llama2-32k.bin" 2>"$tmp/err" &
    pid=$!
    for i in $(seq 1 4000); do compgen -G "$out.tmp-*" >/dev/null && break; sleep 0.001; done
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    if [ "$rc" = 0 ]; then
        echo "note: convert finished before SIG$sig arrived; not counted"
    else
        caught=$((caught + 1))
        [ "$rc" = $((128 + $(kill -l "$sig"))) ] && [ ! -e "$out" ] && ! compgen -G "$out.tmp-*" >/dev/null &&
            pass || fail "SIG$sig during convert: rc $rc, left: $(ls "$tmp" | grep big.gguf)"
    fi
done
[ "$caught" -gt 0 ] && pass || fail "no run was interrupted while writing (the machine is too fast for the test)"

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
