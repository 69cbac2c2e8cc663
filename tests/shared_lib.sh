#!/usr/bin/env bash
# A shared liblamina (-DBUILD_SHARED_LIBS=ON) exports exactly the functions
# src/include/lamina.h declares (the compiler lists them: gcc -aux-info), has
# the SONAME liblamina.so.0, and the lamina built against it runs the demo.
#   tests/shared_lib.sh SOURCE_DIR CC
set -uo pipefail
src=$1 cc=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-shared.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DLAMINA_BUILD_TESTS=OFF -DLAMINA_BUILD_BENCH=OFF -DCMAKE_C_COMPILER="$cc" > "$work/log" 2>&1 ||
    fail "configure: $(tail -n 5 "$work/log")"
cmake --build "$work/build" -j2 --target liblamina lamina_cli > "$work/log" 2>&1 ||
    fail "build: $(tail -n 5 "$work/log")"
lib=$(find "$work/build" -name 'liblamina.so.0' | head -n 1)
[ -n "$lib" ] || fail "no liblamina.so.0 built"
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = liblamina.so.0 ] || fail "SONAME is '$soname', not liblamina.so.0"

gcc -fsyntax-only -aux-info "$work/decls" -x c "$src/src/include/lamina.h" ||
    fail "lamina.h does not compile on its own"
# The first identifier before the first '(' of each declaration: the
# function's name, not a parameter's type (lm_progress_fn).
perl -ne 'print "$1\n" if m{^/\* \S*lamina\.h:\d+:\w+ \*/ [^(]*?\b(lm_\w+)\s*\(}' "$work/decls" |
    sort -u > "$work/declared"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
    grep -v '^_' | sort -u > "$work/exported"
[ -s "$work/declared" ] || fail "no functions found in lamina.h"
if ! diff "$work/declared" "$work/exported" > "$work/diff"; then
    echo "exported (>) and declared in lamina.h (<) differ:"
    cat "$work/diff"
    fail "the shared library's exports are not lamina.h's functions"
fi
echo "$(wc -l < "$work/exported") symbols exported, each declared in lamina.h"
ldd "$work/build/lamina" | grep 'liblamina.so.0 => ' > /dev/null || fail "build/lamina does not use liblamina.so.0"
out=$("$work/build/lamina" -n 24 -s 1 2> "$work/err") || fail "the demo failed: $(cat "$work/err")"
[ -n "$out" ] || fail "the demo printed nothing"
echo "the demo ran against the shared library"
