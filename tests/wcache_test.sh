#!/usr/bin/env bash
# The weights cache end to end. Usage: wcache_test.sh LAMINA SHARED_DATA WORK_DIR
# Every run's text is compared byte for byte with the same run packed in
# memory (--no-weights-cache); each case also checks where the panels came
# from (`lamina info`: written, mapped) and what the cache folder holds.
set -u
lamina=$1 shared=$2 work=$3
models=$shared/models
rm -rf "$work" && mkdir -p "$work" || exit 1
tmp=$(mktemp -d "$work/run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/xdg # never the user's cache
unset LAMINA_WEIGHTS_CACHE_MAX
cache=$XDG_CACHE_HOME/lamina/weights
failures=0 passes=0
pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION -- command...: the command succeeds
    local what=$1
    shift 2
    if "$@"; then pass; else fail "$what"; fi
}

tok=(-z "$models/tok1024-kjv.bin")
gen=(-n 48 -t 0 -i "And the")

# run MODEL OUT [options]: generate into OUT, stderr into OUT.err; 0 on success
run() {
    local model=$1 out=$2
    shift 2
    "$lamina" "$model" "${tok[@]}" "${gen[@]}" "$@" >"$out" 2>"$out.err"
}

# packing MODEL [options]: what `lamina info` says of the panels
packing() {
    local model=$1
    shift
    "$lamina" info "$model" "$@" 2>/dev/null | grep '^packing:'
}

images() { find "$cache" -maxdepth 1 -name '*.lmw' 2>/dev/null | wc -l; }
image_of() { "$lamina" info "$@" 2>/dev/null | sed -n 's/^image: *\([^ ]*\) .*/\1/p'; }

# ---- round trips: fp32, Q8_0 and GGUF F16 -----------------------------------
cp "$models/kjv1m.v1.bin" "$tmp/f32.bin"
cp "$models/kjv1m.q80.bin" "$tmp/q80.bin"
"$lamina" convert "$models/kjv1m.v1.bin" "$tmp/f16.gguf" --type f16 "${tok[@]}" >/dev/null 2>&1 ||
    fail "lamina convert to a GGUF F16 model"
for m in f32.bin q80.bin f16.gguf; do
    model=$tmp/$m
    [ "$m" = f16.gguf ] && tok=() || tok=(-z "$models/tok1024-kjv.bin")
    before=$(images)
    run "$model" "$tmp/$m.mem" --no-weights-cache || fail "$m: packed in memory: $(cat "$tmp/$m.mem.err")"
    check "$m: --no-weights-cache writes no image" -- test "$(images)" = "$before"
    run "$model" "$tmp/$m.first" || fail "$m: first run: $(cat "$tmp/$m.first.err")"
    check "$m: the first run writes one image" -- test "$(images)" = $((before + 1))
    img=$(image_of "$model")
    check "$m: the image is where lamina info says ($img)" -- test -f "$img"
    check "$m: info says mapped" -- eval 'packing "$model" | grep -q "mapped from the weights cache"'
    run "$model" "$tmp/$m.later" || fail "$m: later run: $(cat "$tmp/$m.later.err")"
    check "$m: first run = in memory" -- cmp "$tmp/$m.first" "$tmp/$m.mem"
    check "$m: later run = in memory" -- cmp "$tmp/$m.later" "$tmp/$m.mem"
    check "$m: no notes" -- test ! -s "$tmp/$m.later.err" -o -z "$(grep -v '^lamina: prompt' "$tmp/$m.later.err")"
    check "$m: cache verify" -- eval '"$lamina" cache verify "$model" >/dev/null 2>&1'
    check "$m: the output is text" -- test -s "$tmp/$m.mem"
done
tok=(-z "$models/tok1024-kjv.bin")
# the panel layout is the same for every kernel set: one image serves them all
for isa in $("$lamina" --version | sed -n 's/^kernels: .*(built: \(.*\))$/\1/p'); do
    "$lamina" --version --isa "$isa" >/dev/null 2>&1 && "$lamina" "$tmp/q80.bin" "${tok[@]}" "${gen[@]}" --isa "$isa" >"$tmp/isa.out" 2>/dev/null || continue
    check "--isa $isa from the image: same text" -- cmp "$tmp/isa.out" "$tmp/q80.bin.mem"
done
check "info writes no image" -- eval '"$lamina" info "$tmp/q80.bin" --weights-cache "$tmp/other" | grep -q "^image: *$tmp/other/.*(not written)"'
check "info with no image: packed in memory" -- eval 'packing "$tmp/q80.bin" --weights-cache "$tmp/other" | grep -q "load)"'
run "$tmp/q80.bin" "$tmp/other.out" --weights-cache "$tmp/other"
check "info: the image and its size" -- eval '"$lamina" info "$tmp/q80.bin" --weights-cache "$tmp/other" | grep -q "^image: *$tmp/other/.*(1.1 MiB)"'
check "info --no-weights-cache" -- eval '"$lamina" info "$tmp/q80.bin" --no-weights-cache | grep -q "^image: *- (no weights cache)"'

check "--weights-cache DIR: an image there" -- test "$(find "$tmp/other" -name '*.lmw' | wc -l)" = 1
check "--weights-cache DIR: same text" -- cmp "$tmp/other.out" "$tmp/q80.bin.mem"

# ---- lamina batch, serve and perplexity take the cache too -------------------------
printf '{"prompt":"And it came to pass","seed":11,"max_tokens":40}\n{"prompt":"In the","seed":3,"max_tokens":40}\n' >"$tmp/req.jsonl"
"$lamina" batch "$tmp/q80.bin" "$tmp/req.jsonl" "${tok[@]}" --no-weights-cache -o "$tmp/b.mem" 2>/dev/null ||
    fail "batch --no-weights-cache"
"$lamina" batch "$tmp/q80.bin" "$tmp/req.jsonl" "${tok[@]}" --weights-cache "$tmp/bc" -o "$tmp/b.1" 2>/dev/null ||
    fail "batch --weights-cache (first)"
"$lamina" batch "$tmp/q80.bin" "$tmp/req.jsonl" "${tok[@]}" --weights-cache "$tmp/bc" -o "$tmp/b.2" 2>/dev/null ||
    fail "batch --weights-cache (later)"
check "batch: one image in its --weights-cache" -- test "$(ls "$tmp/bc" | wc -l)" = 1
check "batch: first run = in memory" -- cmp "$tmp/b.1" "$tmp/b.mem"
check "batch: later run = in memory" -- cmp "$tmp/b.2" "$tmp/b.mem"
head -c 3000 "$shared/text/kjv_ruth.txt" >"$tmp/text.txt" || fail "no text"
"$lamina" perplexity "$tmp/f32.bin" "$tmp/text.txt" "${tok[@]}" --ctx 64 --no-weights-cache >"$tmp/p.mem" 2>/dev/null ||
    fail "perplexity --no-weights-cache"
"$lamina" perplexity "$tmp/f32.bin" "$tmp/text.txt" "${tok[@]}" --ctx 64 --weights-cache "$tmp/pc" >"$tmp/p.1" 2>/dev/null ||
    fail "perplexity --weights-cache"
check "perplexity: an image in its --weights-cache" -- test "$(ls "$tmp/pc" | wc -l)" = 1
check "perplexity: same figures" -- cmp "$tmp/p.1" "$tmp/p.mem"
for c in batch serve perplexity; do
    check "$c --help names the cache options" -- eval '"$lamina" $c --help 2>&1 | grep -q -- "--no-weights-cache"'
done
# serve: a completion from the image equals one packed in memory
serve_completion() { # serve_completion OUT OPTION...
    local out=$1
    shift
    "$lamina" serve "$tmp/q80.bin" "${tok[@]}" --port 0 "$@" >"$tmp/serve.log" 2>&1 &
    local pid=$! url=
    # packing and writing the image take seconds under sanitizers on a loaded
    # machine: wait for the listening line as long as the server is alive
    for _ in $(seq 1200); do
        url=$(sed -n 's|.*listening on \(http://[^ ]*\) .*|\1|p' "$tmp/serve.log")
        [ -n "$url" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "wcache: serve $* never listened:"; cat "$tmp/serve.log"; }
    curl -s --max-time 300 -H 'Content-Type: application/json' \
        -d '{"prompt":"And it came to pass","max_tokens":40,"temperature":0}' \
        "${url}v1/completions" | sed 's/"created":[0-9]*//; s/"id":"[^"]*"//' >"$out"
    kill $pid
    wait $pid 2>/dev/null
}
if command -v curl >/dev/null; then
    serve_completion "$tmp/s.mem" --no-weights-cache
    serve_completion "$tmp/s.1" --weights-cache "$tmp/sc"
    serve_completion "$tmp/s.2" --weights-cache "$tmp/sc"
    check "serve: an image in its --weights-cache" -- test "$(ls "$tmp/sc" | wc -l)" = 1
    check "serve: a completion" -- grep -q '"text"' "$tmp/s.mem"
    check "serve: first run = in memory" -- cmp "$tmp/s.1" "$tmp/s.mem"
    check "serve: later run = in memory" -- cmp "$tmp/s.2" "$tmp/s.mem"
else
    echo "wcache: curl not found: the serve cases did not run"
fi
"$lamina" serve "$tmp/q80.bin" --weights-cache 2>"$tmp/err" >/dev/null
check "serve: --weights-cache needs a value" -- test $? = 2

# ---- stale images ----------------------------------------------------------
m=$tmp/q80.bin
img=$(image_of "$m")
ino=$(stat -c %i "$img")
touch -d '2001-01-01' "$m" # same file, new mtime
check "touched model: info no longer maps the image" -- eval 'packing "$m" | grep -q "load)"'
run "$m" "$tmp/stale.out"
check "touched model: mapped again after a run" -- eval 'packing "$m" | grep -q "mapped from"'
check "touched model: the image was replaced" -- test "$(stat -c %i "$img")" != "$ino"
check "touched model: same text" -- cmp "$tmp/stale.out" "$tmp/q80.bin.mem"
# replaced by another model in place (same inode, other contents)
cp "$models/kjv1m.v1.bin" "$tmp/swap.bin"
run "$tmp/swap.bin" "$tmp/swap.1"
cat "$models/kjv1m.q80.bin" >"$tmp/swap.bin"
run "$tmp/swap.bin" "$tmp/swap.2" || fail "replaced model: run: $(cat "$tmp/swap.2.err")"
check "replaced model (same inode): the new model's text" -- cmp "$tmp/swap.2" "$tmp/q80.bin.mem"

# ---- damaged images: rebuilt, never a crash -----------------------------------
# damage DESCRIPTION COMMAND: damage the image of q80.bin, then a run must
# succeed with the right text and leave an image that verifies.
damage() {
    local what=$1 cmd=$2
    img=$(image_of "$m")
    bash -c "$cmd" _ "$img" || fail "$what: could not damage the image"
    run "$m" "$tmp/damaged.out"
    local rc=$?
    check "$what: runs (exit $rc: $(head -c 200 "$tmp/damaged.out.err"))" -- test $rc = 0
    check "$what: same text" -- cmp "$tmp/damaged.out" "$tmp/q80.bin.mem"
    check "$what: rebuilt image verifies" -- eval '"$lamina" cache verify "$m" >/dev/null 2>&1'
}
damage "truncated to half" 'truncate -s $(($(stat -c %s "$1") / 2)) "$1"'
damage "truncated to 100 bytes" 'truncate -s 100 "$1"'
damage "empty" ': >"$1"'
damage "one byte longer" 'printf x >>"$1"'
damage "a header byte flipped" 'printf "\xff" | dd of="$1" bs=1 seek=40 conv=notrunc status=none'
damage "the magic flipped" 'printf "X" | dd of="$1" bs=1 seek=0 conv=notrunc status=none'
# the layout version changed with a valid checksum (an image of another lamina)
damage "another layout version" "/usr/bin/python3 -c '
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, \"rb\").read())
struct.pack_into(\"<I\", b, 12, 999)
n = struct.unpack_from(\"<Q\", b, 24)[0]
h = 0xcbf29ce484222325
for x in b[:n - 8]: h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
struct.pack_into(\"<Q\", b, n - 8, h)
open(p, \"wb\").write(b)' \"\$1\""
damage "the first bytes of the panels zeroed" 'dd if=/dev/zero of="$1" bs=4096 seek=1 count=1 conv=notrunc status=none'
damage "a symlink in its place" 'rm "$1" && ln -s /etc/passwd "$1"'
# a byte deep in the panels: the cheap checks cannot see it, verify does
img=$(image_of "$m")
printf '\x55' | dd of="$img" bs=1 seek=$(($(stat -c %s "$img") / 2)) conv=notrunc status=none
"$lamina" cache verify "$m" >/dev/null 2>"$tmp/verify.err"
check "verify finds a changed panel byte (exit 1)" -- test $? = 1
check "verify names the matrix" -- grep -q "differs from a fresh packing" "$tmp/verify.err"
check "verify's error is one line" -- test "$(wc -l <"$tmp/verify.err")" = 1
rm -f "$img"
"$lamina" cache verify "$m" >/dev/null 2>"$tmp/verify.err"
check "verify of a missing image fails" -- test $? != 0

# ---- a cache that cannot be written: a note, then the run goes on ---------------
printf x >"$tmp/file"
run "$m" "$tmp/ro.out" --weights-cache "$tmp/file/cache"
check "unwritable cache: runs" -- test $? = 0
check "unwritable cache: same text" -- cmp "$tmp/ro.out" "$tmp/q80.bin.mem"
check "unwritable cache: a one-line note" -- eval 'test "$(grep -c "weights cache: .*packed in memory" "$tmp/ro.out.err")" = 1'
# a full disk (a file size limit: writes fail with EFBIG, SIGXFSZ ignored)
rm -rf "$tmp/full"
(trap '' XFSZ && ulimit -f 64 && run "$m" "$tmp/full.out" --weights-cache "$tmp/full")
check "full disk: runs" -- test $? = 0
check "full disk: same text" -- cmp "$tmp/full.out" "$tmp/q80.bin.mem"
check "full disk: a note" -- grep -q "weights cache: cannot write" "$tmp/full.out.err"
check "full disk: no image and no temporary left" -- test -z "$(ls -A "$tmp/full")"

# ---- two first runs at once: both succeed, one image ---------------------------
rm -rf "$tmp/conc"
for i in 1 2 3; do run "$tmp/f32.bin" "$tmp/conc.$i" --weights-cache "$tmp/conc" & done
wait
for i in 1 2 3; do check "concurrent run $i: same text" -- cmp "$tmp/conc.$i" "$tmp/f32.bin.mem"; done
check "concurrent runs: one image, no temporaries" -- test "$(ls -A "$tmp/conc" | wc -l)" = 1

# ---- two processes share one copy of the panels -----------------------------
# (PSS: each maps the image's page-cache pages; measured in bench/RESULTS.md)

# ---- eviction under a cap, lamina cache list / clear --------------------------------
rm -rf "$tmp/evict"
for f in f32.bin q80.bin; do run "$tmp/$f" /dev/null --weights-cache "$tmp/evict"; done
check "no cap: two images" -- test "$(ls "$tmp/evict" | wc -l)" = 2
first=$(image_of "$tmp/f32.bin" 2>/dev/null)
LAMINA_WEIGHTS_CACHE_MAX=1K run "$tmp/q80.bin" /dev/null --weights-cache "$tmp/evict"
check "a tiny cap evicts the other image" -- test "$(ls "$tmp/evict" | wc -l)" = 1
check "the image in use stays" -- eval 'packing "$tmp/q80.bin" --weights-cache "$tmp/evict" | grep -q mapped'
LAMINA_WEIGHTS_CACHE_MAX=lots run "$tmp/q80.bin" "$tmp/cap.out" --weights-cache "$tmp/evict"
check "a bad cap is a note" -- grep -q "LAMINA_WEIGHTS_CACHE_MAX=lots: not a size" "$tmp/cap.out.err"
# least recently used first: a, b, c used in that order, cap fits two
declare -A lru
rm -rf "$tmp/lru" && for f in a b c; do cp "$models/kjv1m.q80.bin" "$tmp/$f.bin"; done
for f in a b; do run "$tmp/$f.bin" /dev/null --weights-cache "$tmp/lru"; done
sleep 1.1 && run "$tmp/a.bin" /dev/null --weights-cache "$tmp/lru" # a used again: b is older
one=$(stat -c %s "$(image_of "$tmp/a.bin" --weights-cache "$tmp/lru")")
sleep 1.1 && LAMINA_WEIGHTS_CACHE_MAX=$((2 * one)) run "$tmp/c.bin" /dev/null --weights-cache "$tmp/lru"
for f in a b c; do lru[$f]=$(image_of "$tmp/$f.bin" --weights-cache "$tmp/lru"); done
check "LRU: a stays" -- test -f "${lru[a]}"
check "LRU: b, the least recently used, is evicted" -- test ! -e "${lru[b]}"
check "LRU: c, just written, stays" -- test -f "${lru[c]}"
"$lamina" cache list >"$tmp/list" 2>&1
check "cache list names the models" -- grep -q "$tmp/f16.gguf" "$tmp/list"
check "cache list counts" -- grep -Eq "^[0-9]+ images?, .* MiB in $cache\$" "$tmp/list"
rm "$tmp/f32.bin"
"$lamina" cache list >"$tmp/list" 2>&1
check "cache list marks a gone model stale" -- grep -q "(stale)" "$tmp/list"
check "cache clear" -- eval '"$lamina" cache clear >/dev/null && test "$(images)" = 0'
check "cache dir" -- eval 'test "$("$lamina" cache dir)" = "$cache"'
"$lamina" cache frobnicate >/dev/null 2>"$tmp/err"
check "cache: an unknown command is a usage error" -- test $? = 2
# the embedded demo model is never cached
"$lamina" -n 8 >/dev/null 2>&1
check "the demo model writes no image" -- test "$(images)" = 0

echo "wcache: $passes passed, $failures failed"
[ "$failures" = 0 ]
