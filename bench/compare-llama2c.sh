#!/usr/bin/env bash
# Side-by-side generation speed of lamina and llama2.c's own programs, `runomp`
# (run.c, fp32) and `runq` (runq.c, Q8_0), on the same models with the same
# threads, interleaved. Nothing of llama2.c enters this repository: the checkout
# given with --llama2c is built in the work folder.
#
#   bench/compare-llama2c.sh --llama2c DIR [--work DIR] [--shapes 260K,15M,42M,110M]
#                            [--threads N] [--rounds N] [--steps 256] [--lamina PATH]
#                            [--process-rounds N]
#
# DIR is a llama2.c checkout (run.c, runq.c, Makefile). Needs a C compiler with
# OpenMP (gcc, as the Makefile), python3, awk and cmp. Steps, each skipped when
# its output exists in the work folder (default /tmp/lamina-llama2c):
#   1. build runomp and runq with the flags of the Makefile's `runomp` rule
#      (-Ofast -fopenmp -march=native), the timed builds, and run-strict and
#      runq-strict with those of its `run` rule (-O3) and -ffp-contract=off,
#      which only settle whose text is right (rebuilt when the source is newer);
#   2. models: 260K is tests/data/models/stories260K.bin with a tokenizer.bin of
#      the first 512 pieces of the Llama 2 vocabulary (its own tok512.bin is not
#      shipped; the text differs, the speed does not); 15M, 42M and 110M are
#      random v0 checkpoints (bench/random_checkpoint.py, the shapes of
#      `lamina bench --list-shapes`) with the Llama 2 vocabulary; each has a Q8_0
#      v2 copy from `lamina quantize`, whose group size divides dim and
#      hidden_dim so that runq computes every weight (4 at 260K, 32 at 15M and
#      42M, 64 at 110M);
#   3. rounds: per shape and dtype, greedy generation of STEPS positions from an
#      empty prompt by llama2.c (OMP_NUM_THREADS=N `runomp|runq M -z T -t 0 -n
#      STEPS`) and by lamina (`lamina M -z T -t 0 -n STEPS -i "" --threads N`),
#      the order alternating every round so that drift hits both alike.
# Both should print the same text (lamina reproduces llama2.c's tokens). When
# the timed build's text differs (kept in the work folder; the measuring goes
# on), the strict build runs the same generation once after the rounds: the
# -Ofast -march=native build rounds differently (fast math; fused multiply-adds
# where lamina's Q8_0 order, like runq.c's source, rounds each product), and
# random weights have near-ties that such a last bit flips. If lamina's text is
# the strict build's, that is a note; if it differs from both, a MISMATCH (a
# lamina bug), and the script exits with status 3 at the end.
# bench/gate_stats.c then reports per shape and dtype the medians and the
# geometric mean of the paired ratios lamina / llama2.c (B/A) with a 95%
# interval; "faster" means lamina is faster with that confidence, "FAIL" that it
# is slower by more than 1%.
#
#   4. whole processes as people run them (skipped with --process-rounds 0;
#      default: --rounds): per shape and dtype, the wall time of
#      `runomp|runq M -z T -n 16 -i Hello -s 1` and of `lamina M -z T -n 16
#      -i Hello -s 1 --weights-cache W`, default flags otherwise (sampling at
#      temperature 1, default threads: OpenMP's and lamina's own; --threads is
#      not passed; at 260K the empty prompt, as run.c crashes encoding text
#      with the cut vocabulary), interleaved round by round: lamina's first run (W emptied
#      before it: pack, write the image, map it) and its later run (maps the
#      image). A table gives the medians with the spread (min-max) and the
#      ratios of the medians; gate_stats the paired ratios (processes per
#      second, lamina / llama2.c) with a 95% interval. The seed is fixed so
#      that both stop at the same place when the text ends early.
#
# The empty prompt: llama2.c is run without -i, which master's run.c treats as
# -i "" (BOS only); older run.c versions add a dummy-prefix token for -i "".
#
# The two tok/s: run.c and runq.c start their clock after the first iteration
# (the forward of BOS at position 0, its sample and print) and report (pos - 1)
# / elapsed, i.e. the forwards at positions 1 .. pos-1 with their samples, timed
# in whole milliseconds. lamina's "generated G tokens, B tok/s" counts every
# sampled token, including the first one (sampled from the prompt's logits), over
# the time after the prompt: G samples but only G - 1 forwards. The script
# takes B * (G - 1) / G, the same forwards per second as llama2.c's figure (its
# window still holds one more sample and print than llama2.c's, a few
# microseconds).
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
llama2c=
work=/tmp/lamina-llama2c
shapes=260K,15M,42M,110M
threads=$( (nproc || echo 2) 2>/dev/null)
rounds=5
steps=256
prounds=
lamina=$repo/build/lamina
cc=${CC:-gcc}
vocab=$repo/tests/data/tokenizers/llama2-32k.bin
stories=$repo/tests/data/models/stories260K.bin

die() {
    echo "compare-llama2c: $*" >&2
    exit 1
}
# shellcheck source=bench/models.sh
. "$here/models.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --llama2c) llama2c=${2:-} ;;
    --work) work=${2:-} ;;
    --shapes) shapes=${2:-} ;;
    --threads) threads=${2:-} ;;
    --rounds) rounds=${2:-} ;;
    --steps) steps=${2:-} ;;
    --lamina) lamina=${2:-} ;;
    --process-rounds) prounds=${2:-} ;;
    -h | --help)
        sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    [ $# -ge 2 ] || die "option '$1' needs a value"
    shift 2
done

for tool in "$cc" python3 awk cmp; do
    command -v "$tool" > /dev/null || die "needs '$tool' on PATH"
done
[ -n "$llama2c" ] || die "needs --llama2c DIR, a llama2.c checkout (run.c, runq.c, Makefile)"
for f in run.c runq.c Makefile; do
    [ -r "$llama2c/$f" ] || die "no $f in the llama2.c checkout '$llama2c'"
done
positive() { [[ $1 =~ ^[0-9]{1,9}$ ]] && (($1 >= $2)); }
positive "$rounds" 3 || die "--rounds needs a number >= 3"
positive "$threads" 1 || die "--threads needs a positive number"
positive "$steps" 2 || die "--steps needs a number >= 2"
prounds=${prounds:-$rounds}
[ "$prounds" = 0 ] || positive "$prounds" 3 || die "--process-rounds needs 0 or a number >= 3"
[ -x "$lamina" ] || die "no lamina binary at $lamina (build first, or --lamina PATH)"
[ -r "$vocab" ] || die "cannot read the Llama 2 tokenizer $vocab"
mkdir -p "$work/models" || die "cannot create $work"

# The compiler flags of a rule of llama2.c's Makefile (its first recipe line,
# less the output and the libraries), so that the builds are the ones it documents.
rule_flags() {
    awk -v rule="$1:" '$1 == rule { in_rule = 1; next } in_rule && /^\t/ { print; exit } in_rule { exit }' \
        "$llama2c/Makefile" | tr -s ' \t' '\n' | awk '/^-/ && $0 != "-o" && !/^-l/' | paste -sd ' ' -
}

build_one() { # source binary flags
    [ -x "$2" ] && [ ! "$llama2c/$1" -nt "$2" ] && return 0
    echo "== building $2: $cc $3 $1 -lm" >&2
    # shellcheck disable=SC2086 # the flags are words
    "$cc" $3 "$llama2c/$1" -lm -o "$2" > "$2.build.log" 2>&1 || die "building $1 failed: $2.build.log"
}

build_llama2c() {
    timed_flags=$(rule_flags runomp)
    strict_flags="$(rule_flags run) -ffp-contract=off"
    [ -n "$timed_flags" ] || die "no runomp rule with compiler flags in $llama2c/Makefile"
    build_one run.c "$work/runomp" "$timed_flags"
    build_one runq.c "$work/runq" "$timed_flags"
    build_one run.c "$work/run-strict" "$strict_flags"
    build_one runq.c "$work/runq-strict" "$strict_flags"
}

# A tokenizer.bin of the first N pieces of the Llama 2 one (src/FORMATS.md: an
# int max_token_length, then per piece a float score, an int length and the bytes).
cut_vocab() {
    python3 - "$vocab" "$1" "$2" << 'EOF' || die "cannot write $2"
import struct, sys
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(src, "rb") as f:
    f.read(4)
    pieces = []
    for _ in range(n):
        score, length = struct.unpack("<fi", f.read(8))
        pieces.append((score, f.read(length)))
with open(out, "wb") as f:
    f.write(struct.pack("<i", max(len(p) for _, p in pieces)))
    for score, p in pieces:
        f.write(struct.pack("<fi", score, len(p)) + p)
EOF
}

# The fp32 model, its Q8_0 copy and the tokenizer of a shape, as "f32 q8 tokenizer".
make_models() {
    local s=$1 m=$work/models/$1 tok=$vocab
    if [ "$s" = 260K ]; then
        [ -r "$stories" ] || die "cannot read $stories"
        tok=$work/models/tok512-llama2.bin
        [ -s "$tok" ] || cut_vocab 512 "$tok"
        ln -sf "$stories" "$m.bin" || die "cannot link $stories"
    else
        random_checkpoint "$m.bin" "$s"
    fi
    quantized_copy "$m.bin" "$m.q8.bin"
    echo "$m.bin $m.q8.bin $tok"
}

# One greedy generation from an empty prompt: its tok/s on stdout, its text in $4.
run_llama2c() { # program model tokenizer text
    OMP_NUM_THREADS=$threads "$1" "$2" -z "$3" -t 0 -n "$steps" > "$4" 2> "$4.err" ||
        die "$1 $2 failed: $4.err"
    awk '/^achieved tok\/s: / { print $3 }' "$4.err"
}
run_lamina() { # model tokenizer text
    "$lamina" "$1" -z "$2" -t 0 -n "$steps" -i "" --threads "$threads" > "$3" 2> "$3.err" ||
        die "lamina $1 failed: $3.err"
    # "lamina: prompt P tokens, A tok/s; generated G tokens, B tok/s (...)": B * (G - 1) / G
    sed -n 's/.*; generated \([0-9]*\) tokens, \([0-9.]*\) tok\/s.*/\1 \2/p' "$3.err" |
        awk '$1 > 1 { printf "%.3f\n", $2 * ($1 - 1) / $1 }'
}

build_llama2c
IFS=, read -r -a shape_list <<< "$shapes"
declare -A models
for s in "${shape_list[@]}"; do
    [ -n "$(shape_config "$s")" ] || die "unknown shape '$s' (lamina bench --list-shapes)"
    models[$s]=$(make_models "$s") || exit 1
done

pairs=$work/pairs.tsv texts=$work/texts mismatches=0 runs=0 differing=0
declare -A differs # "shape dtype" -> the rounds whose texts differed
: > "$pairs"
mkdir -p "$texts" || die "cannot create $texts"
for ((r = 1; r <= rounds; r++)); do
    echo "== round $r of $rounds" >&2
    for s in "${shape_list[@]}"; do
        read -r f32 q8 tok <<< "${models[$s]}"
        for d in f32 q8; do
            if [ $d = f32 ]; then model=$f32 prog=$work/runomp; else model=$q8 prog=$work/runq; fi
            t=$texts/$s.$d
            if ((r % 2)); then
                b=$(run_lamina "$model" "$tok" "$t.lamina") || exit 1
                a=$(run_llama2c "$prog" "$model" "$tok" "$t.llama2c") || exit 1
            else
                a=$(run_llama2c "$prog" "$model" "$tok" "$t.llama2c") || exit 1
                b=$(run_lamina "$model" "$tok" "$t.lamina") || exit 1
            fi
            [ -n "$a" ] || die "${prog##*/} on $model gave no tok/s: $t.llama2c.err"
            [ -n "$b" ] || die "lamina on $model gave no tok/s: $t.lamina.err"
            runs=$((runs + 1))
            if ! cmp -s "$t.llama2c" "$t.lamina"; then
                differs[$s $d]+=" $r" differing=$((differing + 1))
                cp "$t.llama2c" "$t.r$r.llama2c.txt" && cp "$t.lamina" "$t.r$r.lamina.txt"
                echo "compare-llama2c: $s $d round $r: lamina's text differs from" \
                    "${prog##*/}'s ($t.r$r.*.txt); the strict build decides after the rounds" >&2
            fi
            printf '%s %s generate\t%d\t%s\t%s\n' "$s" "$d" "$r" "$a" "$b" >> "$pairs"
        done
    done
done

# Whose text is right where they differed: llama2.c's strict build, once, untimed.
for key in "${!differs[@]}"; do
    read -r s d <<< "$key"
    read -r f32 q8 tok <<< "${models[$s]}"
    if [ "$d" = f32 ]; then model=$f32 prog=$work/run-strict; else model=$q8 prog=$work/runq-strict; fi
    t=$texts/$s.$d
    run_llama2c "$prog" "$model" "$tok" "$t.strict" > /dev/null || exit 1
    if cmp -s "$t.strict" "$t.lamina"; then
        echo "compare-llama2c: note: $s $d (rounds${differs[$key]}): lamina printed the text of" \
            "${prog##*/} ($strict_flags), not that of the timed -Ofast build" >&2
    else
        mismatches=$((mismatches + 1))
        echo "compare-llama2c: MISMATCH: $s $d (rounds${differs[$key]}): lamina's text differs" \
            "from llama2.c's, timed and strict builds alike ($t.strict, $t.r*.txt)" >&2
    fi
done

cc -O2 -std=c17 -o "$work/gate_stats" "$here/gate_stats.c" -lm || die "cannot compile gate_stats.c"
echo "A = llama2.c ($llama2c: runomp fp32, runq Q8_0; $timed_flags), B = lamina" \
    "($("$lamina" --version | head -1)); $threads thread$( ((threads == 1)) || echo s);"
echo "greedy generation of $steps positions from an empty prompt (tok/s of the forwards after" \
    "the first); $rounds rounds"
"$work/gate_stats" --threshold 1 "$pairs"

# Whole processes at default flags (step 4): wall seconds of one run.
wall() { # command... -> seconds (status 1 if it fails)
    local t0=$EPOCHREALTIME
    "$@" > /dev/null 2>&1 || return 1
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f\n", b - a }'
}
spread() { # seconds, one a line -> "median (min-max)"
    sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f-%.3f)", m, v[1], v[NR] }'
}
median_of() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if ((prounds > 0)); then
    ptimes=$work/process && wcache=$work/wcache && ppairs=$work/process-pairs.tsv
    rm -rf "$ptimes" && mkdir -p "$ptimes" || die "cannot create $ptimes"
    : > "$ppairs"
    for ((r = 1; r <= prounds; r++)); do
        echo "== whole processes: round $r of $prounds" >&2
        for s in "${shape_list[@]}"; do
            read -r f32 q8 tok <<< "${models[$s]}"
            for d in f32 q8; do
                if [ $d = f32 ]; then model=$f32 prog=$work/runomp; else model=$q8 prog=$work/runq; fi
                # run.c crashes encoding text with the cut 512-piece vocabulary:
                # at 260K both start from the empty prompt (run.c without -i)
                args=("$model" -z "$tok" -n 16 -s 1)
                [ "$s" = 260K ] || args+=(-i Hello)
                k=$ptimes/$s.$d
                lam_first() { rm -rf "$wcache" && wall "$lamina" "${largs[@]}" --weights-cache "$wcache"; }
                largs=("${args[@]}")
                [ "$s" = 260K ] && largs+=(-i "")
                if ((r % 2)); then
                    b1=$(lam_first) && b2=$(wall "$lamina" "${largs[@]}" --weights-cache "$wcache") &&
                        a=$(wall env -u OMP_NUM_THREADS "$prog" "${args[@]}") || die "a whole-process run on $model failed"
                else
                    a=$(wall env -u OMP_NUM_THREADS "$prog" "${args[@]}") && b1=$(lam_first) &&
                        b2=$(wall "$lamina" "${largs[@]}" --weights-cache "$wcache") || die "a whole-process run on $model failed"
                fi
                echo "$a" >> "$k.llama2c" && echo "$b1" >> "$k.first" && echo "$b2" >> "$k.later"
                awk -v k="$s $d" -v r="$r" -v a="$a" -v b1="$b1" -v b2="$b2" 'BEGIN {
                    printf "%s process first-run\t%d\t%.6f\t%.6f\n", k, r, 1 / a, 1 / b1
                    printf "%s process later-run\t%d\t%.6f\t%.6f\n", k, r, 1 / a, 1 / b2 }' >> "$ppairs"
            done
        done
    done
    rm -rf "$wcache"
    echo
    echo "Whole processes at default flags (-n 16 -i Hello -s 1; default threads; sampling on), wall" \
        "seconds, median (min-max) of $prounds interleaved rounds:"
    echo
    echo "| shape dtype | llama2.c | lamina first run | lamina later run | first / llama2.c | later / llama2.c |"
    echo "|---|---|---|---|---|---|"
    for s in "${shape_list[@]}"; do
        for d in f32 q8; do
            k=$ptimes/$s.$d
            printf '| %s %s (%s) | %s | %s | %s | %.2fx | %.2fx |\n' "$s" "$d" \
                "$([ $d = f32 ] && echo runomp || echo runq)" "$(spread < "$k.llama2c")" \
                "$(spread < "$k.first")" "$(spread < "$k.later")" \
                "$(awk -v a="$(median_of < "$k.llama2c")" -v b="$(median_of < "$k.first")" 'BEGIN { print b / a }')" \
                "$(awk -v a="$(median_of < "$k.llama2c")" -v b="$(median_of < "$k.later")" 'BEGIN { print b / a }')"
        done
    done
    echo
    echo "Paired (processes per second, B = lamina / A = llama2.c; above 1: lamina faster):"
    "$work/gate_stats" --threshold 1 "$ppairs"
fi

if ((mismatches > 0)); then
    echo "compare-llama2c: MISMATCH: for $mismatches shape/dtype pairs lamina printed neither" \
        "llama2.c build's text (kept in $texts)" >&2
    exit 3
fi
if ((differing > 0)); then
    echo "texts: lamina printed the timed build's text in $((runs - differing)) of $runs runs," \
        "and in the other $differing the strict build's ($strict_flags; notes above)"
else
    echo "texts: lamina printed llama2.c's text in all $runs runs"
fi
exit 0
