#!/bin/bash
# Llama 3's rope scaling against llama.cpp (ctest label `compat`): lamina's
# perplexity within 0.1% of llama-perplexity's (the error estimate within 1%,
# the chunk counts equal) on tied-embedding models given Llama 3.1's
# rope_freqs.weight by add_rope_freqs.py (llama.cpp's converter's formula):
#   kjv     the demo model (trained; head size 32, GQA 2:1, 1024 pieces) as
#           `lamina convert` writes it, factors for an original context of 64
#           so that most pairs are scaled at chunks of 256
#   spm32k  make_llama3.py's random weights (head size 64, GQA 4:1) with the
#           32000-piece SentencePiece vocabulary of tests/data/vocab, factors
#           for an original context of 512, chunks of 512 (random weights make
#           the figure meaningless, but both engines compute the same one)
# Each model without the tensor must differ by more than 0.5% in both engines
# (the scaling is not a no-op at these contexts).
#
# Usage: perplexity_compat.sh LAMINA LLAMACPP_BIN PYTHON3 LLAMACPP_SRC DATA_DIR WORK_DIR
set -u
lamina=$1 bin=$2 py=$3 src=$4 data=$5 work=$6
here=$(cd "$(dirname "$0")" && pwd) text=$data/text/kjv_ruth.txt
mkdir -p "$work"
if [ ! -x "$bin/llama-perplexity" ] || [ ! -d "$src/gguf-py" ]; then
    echo "FAILED: llama.cpp is missing: run tests/llamacpp/source.sh and build.sh" >&2
    exit 1
fi
failures=0
fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}

# llama.cpp's final estimate, its error and the chunks (tests/llamacpp/llama_ppl.sh)
. "$here/../llamacpp/llama_ppl.sh"
llamacpp() { llama_ppl "$bin" "$1" "$text" "$2" "$work/$(basename "$1").$2.log"; }

ours() {
    "$lamina" perplexity "$1" "$text" --ctx "$2" --json |
        sed -n 's/.*"perplexity":\([^,]*\),"error":\([^,]*\),"tokens":[0-9]*,"chunks":\([0-9]*\),.*/\1 \2 \3/p'
}

# within A B LIMIT: |A - B| / B <= LIMIT; apart A B LIMIT: more than LIMIT
within() { awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { d = (a - b) / b; exit (d < 0 ? -d : d) <= l ? 0 : 1 }'; }
apart() { ! within "$@"; }

# compare NAME GGUF NOSCALE_GGUF CTX
compare() {
    local mine theirs mine0 theirs0 p e c tp te tc p0 tp0
    mine=$(ours "$2" "$4") theirs=$(llamacpp "$2" "$4")
    mine0=$(ours "$3" "$4") theirs0=$(llamacpp "$3" "$4")
    echo "$1, chunks of $4: lamina $mine, llama.cpp $theirs (PPL, error, chunks);" \
        "without rope_freqs: lamina $mine0, llama.cpp $theirs0"
    read -r p e c <<<"$mine"
    read -r tp te tc <<<"$theirs"
    read -r p0 _ <<<"$mine0"
    read -r tp0 _ <<<"$theirs0"
    if [ -z "${p:-}" ] || [ -z "${tc:-}" ] || [ -z "${p0:-}" ] || [ -z "${tp0:-}" ]; then
        fail "$1: no figure"
        return
    fi
    awk -v a="$p" -v b="$tp" 'BEGIN { d = (a - b) / b; printf "  relative difference %.4f%%\n", 100 * (d < 0 ? -d : d) }'
    [ "$c" = "$tc" ] || fail "$1: $tc chunks in llama.cpp, $c in lamina"
    within "$p" "$tp" 0.001 || fail "$1: perplexity $p vs llama.cpp's $tp: beyond 0.1%"
    within "$e" "$te" 0.01 || fail "$1: error $e vs llama.cpp's $te: beyond 1%"
    apart "$p" "$p0" 0.005 || fail "$1: lamina's scaling changes the perplexity by under 0.5%"
    apart "$tp" "$tp0" 0.005 || fail "$1: llama.cpp's scaling changes the perplexity by under 0.5%"
}

"$lamina" convert "$data/models/kjv1m.bin" "$work/kjv.gguf" -z "$data/models/tok1024-kjv.bin" \
    >"$work/convert.log" 2>&1 || fail "lamina convert (see $work/convert.log)"
"$py" "$here/add_rope_freqs.py" "$src/gguf-py" "$work/kjv.gguf" "$work/kjv.l3.gguf" --orig 64 ||
    fail "add_rope_freqs.py kjv"
"$py" "$here/make_llama3.py" "$src/gguf-py" "$work/spm.gguf" \
    --spm-vocab "$data/vocab/ggml-vocab-llama-spm.gguf" || fail "make_llama3.py --spm-vocab"
"$py" "$here/add_rope_freqs.py" "$src/gguf-py" "$work/spm.gguf" "$work/spm.l3.gguf" --orig 512 ||
    fail "add_rope_freqs.py spm"
[ "$failures" -gt 0 ] && exit 1
compare kjv "$work/kjv.l3.gguf" "$work/kjv.gguf" 256
compare spm32k "$work/spm.l3.gguf" "$work/spm.gguf" 512
if [ "$failures" -gt 0 ]; then
    echo "llama3.perplexity_llamacpp: $failures failed" >&2
    exit 1
fi
echo "llama3.perplexity_llamacpp: passed"
