#!/usr/bin/env bash
# Benchmark regression gate: is the current tree (B) slower than a baseline
# commit (A) end to end? Needs bash, awk, cmake, git and a C compiler (and
# python3, no packages, for the file model of the whole-process metrics).
#
#   bench/gate.sh                       # A = $LAMINA_GATE_BASE (default HEAD~1)
#   bench/gate.sh --a-binary X --b-binary Y   # compare two built `lamina`s
#
# It builds A (git archive of the commit) and B (the working tree) in separate
# Release build folders, then runs `lamina bench --json` of both interleaved
# (A B, B A, A B, ... so that drift hits both alike) on the 15M and 110M
# shapes, f32 and q8, 1 and 2 threads, 10 repetitions of 16 prompt + 8 decoded
# tokens, and the whole process as people run it (start-up, packing, prompt,
# sampling: the demo model, 256 positions at the default sampling and default
# threads, and greedy on one thread; processes per second, the best of 3; and
# a random 110M-shaped checkpoint as `lamina M -n 16 -i Hello` at default flags
# with its own weights cache folder: the first run, the folder emptied, best of
# 2, and a later run that maps the image, best of 3), so that a start-up,
# packing or sampler regression fails like a kernel one.
# Each metric (prefill / decode tok/s of each configuration) becomes
# one paired ratio B/A per round (a run's value: its fastest repetition: many
# short repetitions, so that some miss the other jobs' bursts);
# gate_stats (bench/gate_stats.c) bootstraps a confidence interval (at least
# as wide as Student's t) of their geometric mean and fails a metric that is slower by more
# than the threshold (5%) with 95% confidence; so does the row that pools every
# metric of each round. The table is printed either way.
#
# Exit status: 0 pass; 1 a regression; 2 usage or internal error;
# 3 not applicable: the baseline cannot be found, built, or has no
#   `lamina bench --json` (CI prints this, it is not a pass);
# 4 the current tree does not build or its benchmark fails.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

base=${LAMINA_GATE_BASE:-HEAD~1}
a_bin="" b_bin=""
shapes=15M,110M
dtypes=all
threads=1,2
prompt=16 gen=8 reps=10 warmup=1 stat=best clock=real
min_rounds=4 max_rounds=12
budget=480 # seconds for the whole gate, builds included
threshold=5
proc_shape=110M # the file model of the whole-process metrics ("none": the demo only)
workdir="" keep=0
jobs=$( (nproc || echo 2) 2>/dev/null)

usage() {
    cat <<EOF
usage: bench/gate.sh [options]
  --base REV            baseline commit (default \$LAMINA_GATE_BASE or HEAD~1)
  --a-binary PATH       baseline lamina binary (skips building A)
  --b-binary PATH       candidate lamina binary (skips building B)
  --shapes LIST         (default $shapes)     --dtype D   (default $dtypes)
  --threads LIST        (default $threads)
  --prompt-tokens N     (default $prompt)      --gen-tokens N (default $gen)
  --reps N --warmup N   repetitions per run (default $reps, $warmup)
  --stat best|median    a run's value: its fastest repetition (default: robust to
                        other jobs, which only ever slow a run down) or the median
  --clock real|cpu      tok/s from wall-clock time (default) or from the process's
                        CPU time (for a machine shared with other jobs: time spent
                        waiting for a core is not counted; busy threads are)
  --rounds MIN[,MAX]    interleaved A/B rounds (default $min_rounds,$max_rounds): MIN always,
                        then more while the time budget allows, up to MAX
  --budget SECONDS      whole-gate time budget (default $budget)
  --threshold PCT       slowdown that fails (default $threshold)
  --process-shape S     the random checkpoint of the whole-process first/later-run
                        metrics (default $proc_shape; none: only the demo model's)
  --workdir DIR         build and result folder (default: a new temporary one)
  --keep                keep the work folder
exit: 0 pass, 1 regression, 2 usage/internal error, 3 not applicable (baseline), 4 current tree broken
EOF
}

die() { # status message
    echo "gate: $2" >&2
    exit "$1"
}

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
    -h | --help) usage; exit 0 ;;
    --keep) keep=1; shift; continue ;;
    esac
    case $opt in
    --base | --a-binary | --b-binary | --shapes | --dtype | --threads | --prompt-tokens | \
        --gen-tokens | --reps | --warmup | --stat | --clock | --rounds | --budget | --threshold | \
        --process-shape | --workdir) ;;
    *) die 2 "unknown option '$opt' (see --help)" ;;
    esac
    [ $# -ge 2 ] || die 2 "$opt needs a value (see --help)"
    val=$2
    shift 2
    case $opt in
    --base) base=$val ;;
    --a-binary) a_bin=$val ;;
    --b-binary) b_bin=$val ;;
    --shapes) shapes=$val ;;
    --dtype) dtypes=$val ;;
    --threads) threads=$val ;;
    --prompt-tokens) prompt=$val ;;
    --gen-tokens) gen=$val ;;
    --reps) reps=$val ;;
    --warmup) warmup=$val ;;
    --stat) stat=$val ;;
    --clock) clock=$val ;;
    --rounds) min_rounds=${val%%,*}; max_rounds=${val#*,} ;;
    --budget) budget=$val ;;
    --threshold) threshold=$val ;;
    --process-shape) proc_shape=$val ;;
    --workdir) workdir=$val ;;
    *) die 2 "unknown option '$opt' (see --help)" ;;
    esac
done
for n in "$prompt" "$gen" "$reps" "$warmup" "$min_rounds" "$max_rounds" "$budget"; do
    [[ $n =~ ^[0-9]+$ ]] || die 2 "not a count: '$n'"
done
[ "$stat" = best ] || [ "$stat" = median ] || die 2 "--stat: best or median"
[ "$clock" = real ] || [ "$clock" = cpu ] || die 2 "--clock: real or cpu"
[ "$reps" -ge 1 ] || die 2 "--reps: at least 1"
[ "$min_rounds" -ge 3 ] && [ "$max_rounds" -ge "$min_rounds" ] || die 2 "--rounds: need 3 <= MIN <= MAX"

start=$SECONDS
if [ -z "$workdir" ]; then
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/lamina-gate.XXXXXX") || die 2 "cannot make a work folder"
    [ "$keep" = 1 ] || trap 'rm -rf "$workdir"' EXIT
fi
mkdir -p "$workdir/runs" || die 2 "cannot make $workdir"
echo "gate: work folder $workdir"

# The statistics program: plain C, built with the system compiler.
cc=${CC:-cc}
"$cc" -O2 -std=c17 -o "$workdir/gate_stats" "$here/gate_stats.c" -lm ||
    die 2 "cannot compile bench/gate_stats.c with $cc"

build() { # src build-dir log -> status
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DLAMINA_BUILD_TESTS=OFF \
        -DLAMINA_BUILD_BENCH=OFF >"$3" 2>&1 &&
        cmake --build "$2" -j "$jobs" --target lamina_cli >>"$3" 2>&1
}

has_bench() { # binary: does it have `lamina bench` with --json?
    "$1" bench --help 2>/dev/null | grep -q -- '--json'
}

if [ -z "$a_bin" ]; then
    sha=$(git -C "$repo" rev-parse --verify --quiet "$base^{commit}") ||
        die 3 "NOT APPLICABLE: baseline '$base' is not a commit of $repo"
    echo "gate: baseline A = $base ($sha)"
    mkdir -p "$workdir/a-src"
    git -C "$repo" archive "$sha" | tar -x -C "$workdir/a-src" ||
        die 3 "NOT APPLICABLE: cannot export baseline $sha"
    t0=$SECONDS
    build "$workdir/a-src" "$workdir/a-build" "$workdir/a-build.log" || {
        tail -n 20 "$workdir/a-build.log" >&2
        die 3 "NOT APPLICABLE: baseline $sha does not build (log: $workdir/a-build.log)"
    }
    echo "gate: built A in $((SECONDS - t0)) s"
    a_bin=$workdir/a-build/lamina
fi
if [ -z "$b_bin" ]; then
    echo "gate: candidate B = the working tree $repo"
    t0=$SECONDS
    build "$repo" "$workdir/b-build" "$workdir/b-build.log" || {
        tail -n 20 "$workdir/b-build.log" >&2
        die 4 "the current tree does not build (log: $workdir/b-build.log)"
    }
    echo "gate: built B in $((SECONDS - t0)) s"
    b_bin=$workdir/b-build/lamina
fi
[ -x "$a_bin" ] || die 3 "NOT APPLICABLE: baseline binary $a_bin is missing"
[ -x "$b_bin" ] || die 4 "candidate binary $b_bin is missing"
has_bench "$a_bin" || die 3 "NOT APPLICABLE: the baseline has no 'lamina bench --json' ($a_bin)"
has_bench "$b_bin" || die 4 "the candidate has no 'lamina bench --json' ($b_bin)"

# The file model of the whole-process metrics: a random v0 checkpoint of the
# shape (bench/random_checkpoint.py, plain python3) with the Llama 2 vocabulary.
# Only when both binaries have the weights cache (--weights-cache DIR).
proc_model="" proc_tok=$repo/tests/data/tokenizers/llama2-32k.bin
if [ "$proc_shape" != none ]; then
    cfg=$("$b_bin" bench --list-shapes | awk -v s="$proc_shape" '$1 == s { print $2, $3, $4, $5, $6, $7, $8 }')
    [ -n "$cfg" ] || die 2 "--process-shape: unknown shape '$proc_shape' (lamina bench --list-shapes)"
    # (not `lamina --help | grep -q`: with pipefail, grep's early exit fails the pipe)
    if ! grep -q -- --weights-cache <<<"$("$a_bin" --help 2>&1)" ||
        ! grep -q -- --weights-cache <<<"$("$b_bin" --help 2>&1)"; then
        echo "gate: note: a binary has no --weights-cache: no first/later-run metrics"
    elif ! command -v python3 >/dev/null; then
        echo "gate: note: no python3 to write the random checkpoint: no first/later-run metrics"
    else
        proc_model=$workdir/process-$proc_shape.bin
        # shellcheck disable=SC2086 # the seven config numbers
        python3 "$here/random_checkpoint.py" "$proc_model" $cfg >/dev/null ||
            die 2 "cannot write the random checkpoint $proc_model"
        echo "gate: whole process: lamina $proc_shape-checkpoint -z llama2-32k.bin -n 16 -i Hello" \
            "--weights-cache DIR (default flags; first run: DIR emptied, best of 2; later run: best of 3)"
    fi
fi

common=(--threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" --reps "$reps"
        --warmup "$warmup" --no-membw)
IFS=, read -r -a shape_list <<<"$shapes"
case $dtypes in
all) dtype_list=(f32 q8) ;;
*) IFS=, read -r -a dtype_list <<<"$dtypes" ;;
esac
# One unit = one (shape, dtype): A and B run it back to back, so each pair is
# measured seconds apart, not a whole sweep apart.
units=()
for s in "${shape_list[@]}"; do
    for d in "${dtype_list[@]}"; do units+=("$s:$d"); done
done
echo "gate: each run: lamina bench --shape S --dtype D ${common[*]} (value: $stat repetition, $clock time)"
echo "gate: units: ${units[*]}"
echo "gate: load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

# Whole processes: "key<TAB>processes per second" lines, each the best of 3
# runs (real or CPU time of the process, as --clock says).
proc_time() { # args... -> seconds of one run (real or user+sys)
    local TIMEFORMAT=%3R t
    [ "$clock" = cpu ] && TIMEFORMAT=%3U+%3S
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1) || return 1
    awk -v t="$t" 'BEGIN { split(t, p, "+"); printf "%.6f\n", p[1] + p[2] }'
}
min_of() { sort -g | head -n 1; }
process_runs() { # binary side -> lines
    local name args best
    for spec in "sampled/threads:auto:-s 1" "greedy/threads:1:-s 1 -t 0 --threads 1"; do
        name=${spec%:-*} args=-${spec##*:-}
        # shellcheck disable=SC2086 # the arguments are words
        best=$(for _ in 1 2 3; do proc_time "$1" $args || echo fail; done | min_of)
        [ "$best" = fail ] && return 1
        awk -v n="$name" -v t="$best" 'BEGIN { if (t > 0) printf "process/demo/%s\t%.6f\n", n, 1 / t }'
    done
    [ -n "$proc_model" ] || return 0
    # The file model as people run it: default flags (sampling, threads), 16
    # tokens; the first run packs and writes the weights image (its cache
    # folder emptied before each), later runs map it. Each side has its own
    # cache folder: A's and B's layouts may differ.
    local cache=$workdir/wcache-$2 run
    run=("$1" "$proc_model" -z "$proc_tok" -n 16 -i Hello --weights-cache "$cache")
    best=$(for _ in 1 2; do rm -rf "$cache"; proc_time "${run[@]}" || echo fail; done | min_of)
    [ "$best" = fail ] && return 1
    awk -v n="$proc_shape" -v t="$best" 'BEGIN { printf "process/%s-f32/first-run\t%.6f\n", n, 1 / t }'
    best=$(for _ in 1 2 3; do proc_time "${run[@]}" || echo fail; done | min_of)
    [ "$best" = fail ] && return 1
    awk -v n="$proc_shape" -v t="$best" 'BEGIN { printf "process/%s-f32/later-run\t%.6f\n", n, 1 / t }'
}

run_side() { # side round unit -> status
    local bin=$a_bin tag=$1.$2.${3/:/-}
    [ "$1" = B ] && bin=$b_bin
    if ! "$bin" bench --shape "${3%%:*}" --dtype "${3#*:}" "${common[@]}" \
        --json "$workdir/runs/$tag.json" >"$workdir/runs/$tag.out" 2>"$workdir/runs/$tag.err"; then
        tail -n 5 "$workdir/runs/$tag.err" >&2
        return 1
    fi
}

# The tok/s of each configuration of one run (best: the "min" aggregate, the
# fastest repetition; or the median), keyed without the ISA
# (phase/shape/dtype/threads:N): "key<TAB>value" lines. The JSON is the flat
# Google Benchmark layout that lamina bench writes; objects hold no objects.
extract() {
    local agg=median
    [ "$stat" = best ] && agg=min
    awk -v agg="$agg" -v key="${clock}_time" '
    { doc = doc $0 " " }
    END {
        while (match(doc, /\{[^{}]*\}/)) {
            obj = substr(doc, RSTART, RLENGTH)
            doc = substr(doc, RSTART + RLENGTH)
            if (obj !~ ("\"aggregate_name\": *\"" agg "\"")) continue
            if (!match(obj, /"run_name": *"[^"]*"/)) continue
            name = substr(obj, RSTART, RLENGTH); sub(/^"run_name": *"/, "", name); sub(/"$/, "", name)
            if (!match(obj, "\"" key "\": *[-+0-9.eE]+")) continue
            v = substr(obj, RSTART, RLENGTH); sub(/^"[a-z]*_time": */, "", v)
            if (v + 0 <= 0) continue
            v = 1000 / v  # ms per token -> tok/s
            n = split(name, f, "/")
            if (n != 5) continue
            printf "%s/%s/%s/%s\t%s\n", f[1], f[2], f[3], f[5], v
        }
    }' "$1"
}

: >"$workdir/pairs.tsv"
round=0
last=0
while [ "$round" -lt "$max_rounds" ]; do
    elapsed=$((SECONDS - start))
    if [ "$round" -ge "$min_rounds" ] && [ $((elapsed + last + 10)) -gt "$budget" ]; then
        break
    fi
    t0=$SECONDS
    round=$((round + 1))
    order="A B"
    [ $((round % 2)) -eq 0 ] && order="B A"
    for side in $order; do
        if ! process_runs "$([ "$side" = A ] && echo "$a_bin" || echo "$b_bin")" "$side" \
            >"$workdir/runs/$side.$round.process"; then
            [ "$side" = A ] && die 3 "NOT APPLICABLE: the baseline's lamina failed as a whole process"
            die 4 "the candidate's lamina failed as a whole process"
        fi
    done
    for unit in "${units[@]}"; do
        for side in $order; do
            if ! run_side "$side" "$round" "$unit"; then
                [ "$side" = A ] && die 3 "NOT APPLICABLE: the baseline's lamina bench failed (see $workdir/runs/A.$round.*.err)"
                die 4 "the candidate's lamina bench failed (see $workdir/runs/B.$round.*.err)"
            fi
        done
    done
    for side in A B; do
        { for f in "$workdir/runs/$side.$round".*.json; do extract "$f"; done
          cat "$workdir/runs/$side.$round.process"; } | sort >"$workdir/runs/$side.$round.tsv"
    done
    join -t "$(printf '\t')" "$workdir/runs/A.$round.tsv" "$workdir/runs/B.$round.tsv" |
        awk -F '\t' -v r="$round" '{ printf "%s\t%d\t%s\t%s\n", $1, r, $2, $3 }' >>"$workdir/pairs.tsv"
    last=$((SECONDS - t0))
    echo "gate: round $round ($order) took $last s; $((SECONDS - start)) s so far"
done
[ -s "$workdir/pairs.tsv" ] || die 2 "no paired results (the runs shared no configuration names)"
for side in A B; do
    n=$(cut -f1 "$workdir/runs/$side.1.tsv" | sort -u | wc -l)
    [ "$n" -gt 0 ] || die 2 "run $side.1 produced no results"
done

echo
echo "gate: A = $a_bin"
echo "gate: B = $b_bin"
"$workdir/gate_stats" --threshold "$threshold" "$workdir/pairs.tsv"
status=$?
echo "gate: $round rounds, $((SECONDS - start)) s in all; load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
case $status in
0) echo "gate: PASS (no metric slower than A by more than $threshold% with 95% confidence)" ;;
1) echo "gate: FAIL (a metric is slower than A by more than $threshold% with 95% confidence)" ;;
*) echo "gate: ERROR in the statistics (status $status)"; exit 2 ;;
esac
exit "$status"
