#!/usr/bin/env bash
# The installed tree works on its own (issue 11):
#   example: `cmake --install` into a temporary prefix, then examples/generate.c
#            built from that prefix with find_package(lamina) and, apart, with
#            `cc $(pkg-config --cflags --libs lamina)`; both must generate text.
#   moved:   the installed `lamina` copied elsewhere runs its demo with no
#            arguments, while the source tree and the installed share/ folder
#            are hidden (a private mount namespace; skipped, exit 77, where the
#            system refuses one).
#   tests/install_test.sh BUILD_DIR SOURCE_DIR CC "EXTRA_FLAGS" example|moved
set -uo pipefail
build=$1 src=$2 cc=$3 flags=$4 group=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-install.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
demo_start="And it came to pass"
fail() {
    echo "FAIL: $*"
    exit 1
}

cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
    fail "cmake --install: $(tail -n 5 "$work/install.log")"
for f in include/lamina.h bin/lamina share/lamina/models/kjv1m.bin \
    share/lamina/models/tokenizer.bin lib/cmake/lamina/laminaConfig.cmake; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
pc=$(find "$prefix" -name lamina.pc | head -n 1)
lib=$(find "$prefix" -name 'liblamina.*' | head -n 1)
[ -n "$pc" ] && [ -n "$lib" ] || fail "not installed: lamina.pc or liblamina"
echo "installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"

generates() { # label binary: it must print the demo prompt and more text
    local out
    out=$("$2" 2>"$work/err") || fail "$1 exited $?: $(cat "$work/err")"
    case $out in "$demo_start"?*) ;; *) fail "$1 printed '$out'" ;; esac
    echo "$1: $out"
}

case $group in
example)
    cmake -S "$src/examples" -B "$work/by-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
        >"$work/cmake.log" 2>&1 && cmake --build "$work/by-cmake" >>"$work/cmake.log" 2>&1 ||
        fail "find_package(lamina) build: $(tail -n 20 "$work/cmake.log")"
    generates "find_package(lamina)" "$work/by-cmake/generate"

    export PKG_CONFIG_PATH=$(dirname "$pc")
    models=$(pkg-config --variable=modelsdir lamina) || fail "pkg-config does not know lamina"
    # shellcheck disable=SC2046,SC2086
    "$cc" $flags -o "$work/by-pkg-config" -DLAMINA_MODELS_DIR="\"$models\"" \
        "$src/examples/generate.c" $(pkg-config --cflags --libs lamina) ||
        fail "cc \$(pkg-config --cflags --libs lamina) did not build the example"
    generates "pkg-config" "$work/by-pkg-config"
    ;;
moved)
    mkdir -p "$work/elsewhere" && cp "$prefix/bin/lamina" "$work/elsewhere/lamina"
    rm -rf "$prefix/share"
    if ! unshare -m true 2>/dev/null; then
        echo "SKIP: no private mount namespace here (unshare -m), so the source tree cannot be hidden"
        exit 77
    fi
    # Inside the namespace a tmpfs covers the source tree; the binary runs from $work.
    out=$(cd "$work/elsewhere" && unshare -m sh -c \
        'mount -t tmpfs none "$1" && exec ./lamina' sh "$src" 2>"$work/err") ||
        fail "the moved lamina exited $?: $(cat "$work/err")"
    case $out in "$demo_start"?*) ;; *) fail "the moved lamina printed '$out'" ;; esac
    echo "moved lamina: $out"
    ;;
*) fail "unknown group '$group'" ;;
esac
echo "PASS: $group"
