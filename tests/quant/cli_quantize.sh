#!/bin/bash
# lamina quantize --type: its usage errors and refusals, each one line naming
# the problem, and no output file left behind by any of them.
lamina=$1 models=$2/models
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect STATUS TEXT -- COMMAND...: the exit status and one stderr line containing TEXT
expect() {
    local want=$1 text=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, want $want: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$*: stderr is not one line: $(cat "$tmp/err")"
    grep -qF -- "$text" "$tmp/err" || fail "$*: stderr lacks '$text': $(cat "$tmp/err")"
}
tok=(-z "$models/tok1024-kjv.bin")
expect 2 "--type: not q4_0, q4_1" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.gguf" --type q3_k "${tok[@]}"
expect 2 "--type needs a value" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.gguf" --type
expect 2 "needs an input checkpoint and an output file" -- "$lamina" quantize "$models/kjv1m.bin" --type q4_0
expect 2 "unknown option '--bogus'" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.gguf" --type q4_0 --bogus
expect 1 "a Q8_0 (v2) checkpoint" -- "$lamina" quantize "$models/kjv1m.q80.bin" "$tmp/x.gguf" --type q4_0 "${tok[@]}"
expect 1 "none.bin: cannot open tokenizer" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.gguf" --type q4_0 -z "$tmp/none.bin"
"$lamina" convert "$models/kjv1m.bin" "$tmp/q8.gguf" --type q8_0 "${tok[@]}" 2>/dev/null || fail "convert"
expect 1 "is Q8_0; quantize reads F32, F16 or BF16 weights" -- "$lamina" quantize "$tmp/q8.gguf" "$tmp/x.gguf" --type q4_k_m
expect 1 "none.gguf: cannot open checkpoint" -- "$lamina" quantize "$tmp/none.gguf" "$tmp/x.gguf" --type q4_k_m
expect 1 "is the input tokenizer" -- "$lamina" quantize "$models/kjv1m.bin" "$models/tok1024-kjv.bin" --type q4_0 "${tok[@]}"
expect 2 "needs --type T" -- "$lamina" quantize "$models/kjv1m.bin" "$tmp/x.gguf" -z --type
# a NaN weight (the first embedding row of a v0 file starts after 7 ints)
cp "$models/kjv1m.bin" "$tmp/nan.bin" && printf '\x00\x00\xc0\x7f' |
    dd of="$tmp/nan.bin" bs=1 seek=$((28 + 4 * 100)) conv=notrunc status=none
"$lamina" quantize "$tmp/nan.bin" "$tmp/x.gguf" --type q4_0 "${tok[@]}" >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] && [ "$(grep -c 'error' "$tmp/err")" = 1 ] &&
    tail -n 1 "$tmp/err" | grep -q "value 100 is nan, not a finite number" ||
    fail "a NaN weight: exit $rc: $(cat "$tmp/err")"
rm -f "$tmp/nan.bin"
[ ! -e "$tmp/x.gguf" ] || fail "a failed quantize left an output file"
[ "$(ls "$tmp" | tr "\n" " ")" = "err out q8.gguf " ] || fail "a failed quantize left a file: $(ls "$tmp")"
"$lamina" quantize --help | grep -q "q4_k_m" || fail "--help does not list the types"
"$lamina" quantize "$models/kjv1m.bin" "$tmp/q.gguf" --type q4_k_m "${tok[@]}" 2>"$tmp/err" &&
    [ -s "$tmp/q.gguf" ] && grep -q "wrote $tmp/q.gguf (q4_k_m)" "$tmp/err" || fail "quantize q4_k_m: $(cat "$tmp/err")"
# --type=T as the option table writes values
"$lamina" quantize "$models/kjv1m.bin" "$tmp/eq.gguf" --type=q4_0 "${tok[@]}" 2>"$tmp/err" &&
    [ -s "$tmp/eq.gguf" ] || fail "quantize --type=q4_0: $(cat "$tmp/err")"
# SIGINT or SIGTERM while writing: the CLI's handler sets the library's cancel
# flag; quantize removes its temporary, says so in one line and exits 130 or
# 143; no output. A run that finished before the signal is retried with a
# larger input (never counted as a pass).
big_checkpoint() { # PATH LAYERS: a sparse v1 checkpoint of zeros, kjv's vocabulary size
    python3 - "$1" "$2" <<'PY'
import struct, sys
d, h, l, v = 512, 1024, int(sys.argv[2]), 1024
size = 256 + (2 * l * d + d) * 4 + v * d * 4 + (4 * d * d + 3 * d * h) * l * 4
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IIiiiiiiiB", 0x616B3432, 1, d, h, l, 8, 8, v, 256, 1).ljust(256, b"\0"))
    f.truncate(size)
PY
}
for sig in INT TERM; do
    caught=0
    for layers in 8 32 96; do
        big_checkpoint "$tmp/big.bin" "$layers" || { fail "python3 is needed to write the checkpoint"; break; }
        env --default-signal=INT,TERM "$lamina" quantize "$tmp/big.bin" "$tmp/sig.gguf" --type q8_0 "${tok[@]}" 2>"$tmp/err" &
        pid=$!
        for i in $(seq 1 5000); do compgen -G "$tmp/sig.gguf.tmp-*" >/dev/null && break; sleep 0.001; done
        kill -"$sig" "$pid"
        wait "$pid"
        rc=$?
        rm -f "$tmp/big.bin"
        if [ "$rc" = 0 ]; then
            rm -f "$tmp/sig.gguf"
            continue
        fi
        caught=1 && echo "note: SIG$sig caught at $layers layers"
        [ "$rc" = $((128 + $(kill -l "$sig"))) ] || fail "SIG$sig: exit $rc: $(cat "$tmp/err")"
        [ "$(grep -c error "$tmp/err")" = 1 ] && tail -n 1 "$tmp/err" | grep -q "sig.gguf: cancelled$" ||
            fail "SIG$sig: not one error line 'cancelled': $(cat "$tmp/err")"
        [ ! -e "$tmp/sig.gguf" ] && ! compgen -G "$tmp/sig.gguf.tmp-*" >/dev/null ||
            fail "SIG$sig left: $(ls "$tmp")"
        break
    done
    [ "$caught" = 1 ] || fail "SIG$sig never arrived while quantize was writing (96 layers)"
done
[ "$failures" = 0 ] && echo PASS
exit "$((failures > 0))"
