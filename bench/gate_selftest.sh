#!/usr/bin/env bash
# Shows that the regression gate works, on this machine, with real timings:
#   (a) the current tree vs the same tree built with -DLAMINA_BENCH_SLOWDOWN=ON
#       (a test-only binary, lamina-slow, never installed) and
#       LAMINA_BENCH_SLOWDOWN_PCT=10 (each token ~10% slower): must FAIL;
#   (b) the current tree vs itself: must PASS;
#   (c) the current tree vs lamina-slow with LAMINA_BENCH_SLOWDOWN_START_MS=100
#       (every process busy-waits 100 ms at start: a start-up or sampler
#       regression that `lamina bench` does not see) and only one small bench
#       configuration (15M f32, 1 thread, 4 rounds): must FAIL, on the
#       whole-process metrics alone.
# No git commit is built: bench/gate.sh gets --a-binary / --b-binary.
# Run by the CI script (not by ctest: tests never assert timings).
#   bench/gate_selftest.sh [extra bench/gate.sh options, e.g. --budget 300]
# Exit status 0 when both behave, 1 otherwise, 2 when a build fails.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
pct=${LAMINA_BENCH_SLOWDOWN_PCT:-10}
start_ms=${LAMINA_BENCH_SLOWDOWN_START_MS:-100}
work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-gate-selftest.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
jobs=$( (nproc || echo 2) 2>/dev/null)
start=$SECONDS

build() { # build-dir extra-cmake-args...
    local dir=$1
    shift
    cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DLAMINA_BUILD_TESTS=OFF \
        -DLAMINA_BUILD_BENCH=OFF "$@" >"$dir.log" 2>&1 &&
        cmake --build "$dir" -j "$jobs" --target lamina_cli >>"$dir.log" 2>&1 || {
        tail -n 20 "$dir.log" >&2
        echo "gate-selftest: build failed ($*)" >&2
        exit 2
    }
}
build "$work/normal"
build "$work/slow" -DLAMINA_BENCH_SLOWDOWN=ON
echo "gate-selftest: built both in $((SECONDS - start)) s"

# Only the slow build reads these variables; 0 (no effect) without them.
export LAMINA_BENCH_SLOWDOWN_PCT=$pct
unset LAMINA_BENCH_SLOWDOWN_START_MS

t0=$SECONDS
echo "=== (a) normal (A) vs slowed by $pct% per token (B): the gate must FAIL"
"$here/gate.sh" --budget 240 --a-binary "$work/normal/lamina" --b-binary "$work/slow/lamina-slow" "$@"
a=$?
echo "gate-selftest: (a) took $((SECONDS - t0)) s, gate status $a"

t0=$SECONDS
echo "=== (b) normal (A) vs the same binary (B): the gate must PASS"
"$here/gate.sh" --budget 240 --a-binary "$work/normal/lamina" --b-binary "$work/normal/lamina" "$@"
b=$?
echo "gate-selftest: (b) took $((SECONDS - t0)) s, gate status $b"

t0=$SECONDS
echo "=== (c) normal (A) vs slowed by ${start_ms} ms at start (B): the gate must FAIL"
LAMINA_BENCH_SLOWDOWN_PCT=0 LAMINA_BENCH_SLOWDOWN_START_MS=$start_ms "$here/gate.sh" --budget 180 \
    --shapes 15M --dtype f32 --threads 1 --rounds 4,4 \
    --a-binary "$work/normal/lamina" --b-binary "$work/slow/lamina-slow" "$@"
c=$?
echo "gate-selftest: (c) took $((SECONDS - t0)) s, gate status $c"

ok=1
[ "$a" = 1 ] || { echo "gate-selftest: WRONG: the slowed build was not caught (status $a)"; ok=0; }
[ "$b" = 0 ] || { echo "gate-selftest: WRONG: identical binaries did not pass (status $b)"; ok=0; }
[ "$c" = 1 ] || { echo "gate-selftest: WRONG: the slow start was not caught (status $c)"; ok=0; }
echo "gate-selftest: $((SECONDS - start)) s in all"
if [ "$ok" = 1 ]; then
    echo "gate-selftest: OK (slowed build and slow start caught, identical build passed)"
    exit 0
fi
exit 1
