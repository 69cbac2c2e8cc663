#!/usr/bin/env bash
# Runs every libFuzzer target for a while; builds nothing.
#
# usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [FUZZ_BUILD_DIR]
#   SECONDS_PER_TARGET  default 60 (what CI uses)
#   FUZZ_BUILD_DIR      default $LAMINA_FUZZ_BUILD, else build-fuzz (the "fuzz" preset)
# environment:
#   LAMINA_FUZZ_TARGETS   targets to run (default: "checkpoint tokenizer prompt args chat numbers serve_body request batch_line gguf json_schema wimage")
#   LAMINA_FUZZ_PARALLEL  targets run at once (default 1)
#   LAMINA_FUZZ_KEEP      a folder: each target's final corpus is copied to KEEP/<target>/
#                         (pass it back as extra seeds by copying into the build's corpus)
#
# Each target starts from its seed corpus (<build>/tests/fuzz/corpus/<target>) and its
# regression inputs (tests/fuzz/regressions/<target>), copied to a temporary folder.
# Prints executions/s and the final corpus per target. Exits 1 if any target crashed,
# leaked, timed out or failed an invariant; the input that did it is kept under
# <build>/fuzz-artifacts/ and its path is printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
build=${2:-${LAMINA_FUZZ_BUILD:-$root/build-fuzz}}
targets=${LAMINA_FUZZ_TARGETS:-checkpoint tokenizer prompt args chat numbers serve_body request batch_line gguf json_schema wimage}
parallel=${LAMINA_FUZZ_PARALLEL:-1}

case $seconds in '' | *[!0-9]*) echo "run.sh: seconds must be a number, not '$seconds'" >&2; exit 2 ;; esac
[ -d "$build/tests/fuzz" ] || {
    echo "run.sh: no fuzz build in $build (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
    exit 2
}

# -max_len per target: whole checkpoints (the real ones reach 4.25 MB), whole tokenizer
# files (Llama 2's is 434 KB), prompts, command lines.
max_len() {
    case $1 in
    checkpoint) echo 4400000 ;;
    tokenizer) echo 450000 ;;
    prompt) echo 2048 ;;
    args) echo 512 ;;
    chat) echo 8192 ;;
    numbers) echo 64 ;;
    request) echo 4096 ;;
    batch_line) echo 4096 ;;
    serve_body) echo 4096 ;;
    gguf) echo 65536 ;;
    esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

run_one() {
    local t=$1 bin=$build/tests/fuzz/fuzz_$1
    local corpus=$work/corpus-$t log=$work/$t.log
    [ -x "$bin" ] || { echo "$t: MISSING $bin" > "$work/$t.result"; return; }
    mkdir -p "$corpus"
    cp -r "$build/tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null
    cp "$here/regressions/$t/"* "$corpus/" 2>/dev/null
    rm -f "$corpus/.stamp"
    # -timeout: an input slower than 10 s is a finding (a pathological header);
    # -rss_limit_mb: loaders must refuse absurd sizes, not allocate them.
    "$bin" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
        > "$log" 2>&1
    local rc=$?
    local execs speed files
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    # libFuzzer's own count of the corpus it kept (inputs/size), then the folder
    local corp
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
    files=$(find "$corpus" -type f | wc -l)
    local bytes
    bytes=$(du -sk "$corpus" | cut -f1)
    local status=ok crash=""
    if [ $rc -ne 0 ]; then
        status="FAILED (exit $rc)"
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    fi
    printf '%-10s %-16s %4ss  %10s execs  %6s exec/s  corpus %10s (%s files, %s KiB)%s\n' \
        "$t" "$status" "$seconds" "${execs:-?}" "${speed:-?}" "${corp:-?}" "$files" "$bytes" \
        "${crash:+  crash: $crash}" > "$work/$t.result"
    if [ $rc -ne 0 ]; then
        cp "$log" "$artifacts/$t.log"
        echo "           log: $artifacts/$t.log" >> "$work/$t.result"
        grep -m 20 -E 'ERROR|SUMMARY|invariant failed|runtime error|#0 |#1 |#2 |#3 ' "$log" \
            | sed 's/^/           | /' >> "$work/$t.result"
    fi
    if [ -n "${LAMINA_FUZZ_KEEP:-}" ]; then
        mkdir -p "$LAMINA_FUZZ_KEEP/$t"
        cp "$corpus/"* "$LAMINA_FUZZ_KEEP/$t/" 2>/dev/null
    fi
}

echo "fuzzing $targets for ${seconds}s each ($parallel at a time) from $build"
running=0
for t in $targets; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
for t in $targets; do
    cat "$work/$t.result"
    grep -q '^[a-z_]* *ok ' "$work/$t.result" || failed=1
done
if [ $failed -ne 0 ]; then
    echo "run.sh: a target failed; reproduce with <build>/tests/fuzz/fuzz_<target> <crash file>," \
         "then add the file to tests/fuzz/regressions/<target>/"
fi
exit $failed
