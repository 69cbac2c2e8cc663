#!/bin/bash
# The block-quantized types against llama.cpp on a trained model (issue 23,
# item 5; ctest label `compat`, one test per type: perplexity.twin.<TYPE>).
#
# The model: the demo model (kjv1m.bin: dim 128, hidden 352) embedded in its
# "wider twin" (tests/gguf/make_twin.py: dim 256, hidden 512, 8 heads, 4 KV
# heads, the extra heads, hidden units and embedding columns zero, the norm
# weights rescaled for the wider mean), which computes the same function with
# every matrix row a multiple of 256, as the K-quants need. `lamina convert`
# writes the demo model as GGUF F32 (with its vocabulary), make_twin.py widens
# it. Text: the Book of Ruth (tests/data/text/kjv_ruth.txt, from Debian's
# bible-kjv), chunks of 256 tokens.
#
# TYPE f32: the twin's perplexity equals the demo model's within float noise
#   (0.01%) in lamina and in llama.cpp, and the two engines agree on the twin
#   within 0.1% (error 1%, chunk counts exactly).
# TYPE q4_0|q4_k_m|q5_k_m|q6_k|q8_0: the twin quantized by llama-quantize AND
#   by `lamina quantize --type TYPE` (a missing type is a failure, not a skip);
#   on each file lamina's perplexity within 0.5% of llama.cpp's (error 5%,
#   chunks exactly). For q4_k_m also lamina's perplexity on each file within
#   +5% of its F32 twin's (llama.cpp's Q4_K_M of the twin measured +1.8%:
#   14.93 against 14.66, 2026-12-07).
# Every failure line starts with the type and the file's maker.
#
# Usage: twin_compat.sh LAMINA LLAMACPP_BIN PYTHON3 LLAMACPP_SRC DATA_DIR WORK_DIR TYPE
set -u
lamina=$1 bin=$2 python=$3 src=$4 data=$5 work=$6/$7 type=$7
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tok=$data/models/tok1024-kjv.bin text=$data/text/kjv_ruth.txt ctx=256
failures=0
fail() {
    echo "FAILED: $type: $*" >&2
    failures=$((failures + 1))
}
die() {
    echo "FAILED: $type: $*" >&2
    exit 1
}
case $type in
f32) ;;
q4_0 | q8_0) ggml=${type^^} ;;
q4_k_m) ggml=Q4_K_M ;;
q5_k_m) ggml=Q5_K_M ;;
q6_k) ggml=Q6_K ;;
*) die "unknown type (f32, q4_0, q4_k_m, q5_k_m, q6_k, q8_0)" ;;
esac
for tool in llama-quantize llama-perplexity; do
    [ -x "$bin/$tool" ] || die "$bin/$tool is missing: run tests/llamacpp/source.sh and build.sh"
done
[ -d "$src/gguf-py/gguf" ] || die "no gguf-py in $src: run tests/llamacpp/source.sh"
mkdir -p "$work" || die "cannot create $work"

demo=$work/demo.f32.gguf twin=$work/twin.f32.gguf
"$lamina" convert "$data/models/kjv1m.bin" "$demo" -z "$tok" >"$work/convert.log" 2>&1 ||
    die "lamina convert (see $work/convert.log)"
"$python" "$here/../gguf/make_twin.py" "$src/gguf-py" "$demo" "$twin" >"$work/twin.log" 2>&1 ||
    die "make_twin.py (see $work/twin.log)"

# llama.cpp: "PPL error chunks" (llama_ppl.sh)
. "$here/llama_ppl.sh"
llamacpp() { llama_ppl "$bin" "$1" "$text" "$ctx" "$work/$(basename "$1").llamacpp.log"; }
# lamina: "PPL error chunks" (the GGUF's own vocabulary)
ours() {
    "$lamina" perplexity "$1" "$text" --ctx "$ctx" --json 2>"$work/lamina.err" |
        sed -n 's/.*"perplexity":\([^,]*\),"error":\([^,]*\),"tokens":[0-9]*,"chunks":\([0-9]*\),.*/\1 \2 \3/p'
}
# within WHAT A B LIMIT: |A - B| / B <= LIMIT (a fraction), reported
within() {
    awk -v a="$2" -v b="$3" -v lim="$4" -v what="$1" 'BEGIN {
        d = (a - b) / b; if (d < 0) d = -d
        printf "  %s: %.6g against %.6g, %.4f%% apart (limit %g%%)\n", what, a, b, 100 * d, 100 * lim
        exit d <= lim ? 0 : 1 }' || fail "$1: $2 against $3, beyond $4 (a fraction)"
}
# compare LABEL FILE PPL_LIMIT ERROR_LIMIT: both engines on FILE; sets $got (lamina's PPL)
compare() {
    local mine theirs p e c tp te tc
    mine=$(ours "$2") theirs=$(llamacpp "$2")
    echo "$1 ($(basename "$2")): lamina '$mine', llama.cpp '$theirs' (PPL, error, chunks)"
    read -r p e c <<<"$mine"
    read -r tp te tc <<<"$theirs"
    got=${p:-}
    [ -n "${c:-}" ] || { fail "$1: lamina gave no figure ($(head -1 "$work/lamina.err"))"; return; }
    [ -n "${tc:-}" ] || { fail "$1: llama.cpp gave no figure (see $work/*.llamacpp.log)"; return; }
    [ "$c" = "$tc" ] || fail "$1: $tc chunks in llama.cpp, $c in lamina"
    within "$1: perplexity, lamina against llama.cpp" "$p" "$tp" "$3"
    within "$1: error estimate, lamina against llama.cpp" "$e" "$te" "$4"
}

if [ "$type" = f32 ]; then
    read -r dp _ <<<"$(ours "$demo")"
    read -r dtp _ <<<"$(llamacpp "$demo")"
    compare "f32 twin" "$twin" 0.001 0.01
    read -r tp _ <<<"$(llamacpp "$twin")"
    if [ -n "${dp:-}" ] && [ -n "${got:-}" ]; then
        within "lamina: twin against the demo model" "$got" "$dp" 0.0001
    else fail "lamina: no figure for the demo model or the twin"; fi
    if [ -n "${dtp:-}" ] && [ -n "${tp:-}" ]; then
        within "llama.cpp: twin against the demo model" "$tp" "$dtp" 0.0001
    else fail "llama.cpp: no figure for the demo model or the twin"; fi
else
    read -r f32 _ <<<"$(ours "$twin")"
    [ -n "${f32:-}" ] || die "lamina gave no figure for the F32 twin ($(head -1 "$work/lamina.err"))"
    theirs=$work/twin.$type.llama-quantize.gguf mine=$work/twin.$type.lamina.gguf
    "$bin/llama-quantize" "$twin" "$theirs" "$ggml" >"$work/llama-quantize.log" 2>&1 ||
        die "llama-quantize $ggml (see $work/llama-quantize.log)"
    if "$lamina" quantize "$twin" "$mine" --type "$type" >"$work/lamina-quantize.log" 2>&1; then
        files="llama-quantize:$theirs lamina:$mine"
    else
        fail "lamina quantize --type $type: $(tail -1 "$work/lamina-quantize.log")"
        files="llama-quantize:$theirs"
    fi
    for f in $files; do
        maker=${f%%:*} file=${f#*:}
        compare "$type ($maker's file)" "$file" 0.005 0.05
        [ -n "${got:-}" ] || continue
        awk -v a="$got" -v b="$f32" 'BEGIN { printf "  against the F32 twin (%.6g): %+.3f%%\n", b, 100 * (a - b) / b }'
        if [ "$type" = q4_k_m ]; then
            awk -v a="$got" -v b="$f32" 'BEGIN { exit a <= 1.05 * b ? 0 : 1 }' ||
                fail "$maker's file: lamina's perplexity $got is more than 5% above the F32 twin's $f32"
        fi
    done
fi
if [ "$failures" -gt 0 ]; then
    echo "perplexity.twin.$type: $failures failed" >&2
    exit 1
fi
echo "perplexity.twin.$type: passed"
