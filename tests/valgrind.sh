#!/usr/bin/env bash
# valgrind memcheck over the CLI end to end: one generation per checkpoint
# format and one two-turn chat session (piped stdin), with the demo model.
# Fails on any memory error and on any definite or indirect leak.
#
# usage: tests/valgrind.sh [BUILD_DIR]   (default: build, the "release" preset;
#        builds nothing; an unsanitized build: valgrind and ASan do not mix)
#
# LAMINA_ISA=scalar: valgrind does not decode every AVX-512 instruction.
# --threads 1 except in one run: OpenMP's worker threads live past exit
# (tests/valgrind.supp says why that is suppressed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
cli=$build/lamina
data=${LAMINA_TEST_DATA:-$root/tests/data}
[ -x "$cli" ] || { echo "valgrind.sh: no CLI at $cli (build first)" >&2; exit 2; }
command -v valgrind > /dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }

export LAMINA_ISA=scalar
vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --track-origins=yes --suppressions="$here/valgrind.supp" --quiet)
log=$(mktemp -d "${TMPDIR:-/tmp}/lamina-valgrind.XXXXXX")
trap 'rm -rf "$log"' EXIT
failed=0

check() { # name, then the command; stdin is passed through
    local name=$1
    shift
    local start=$SECONDS
    if "${vg[@]}" --log-file="$log/$name.vg" "$@" > "$log/$name.out" 2> "$log/$name.err"; then
        if [ -s "$log/$name.vg" ]; then
            echo "FAIL $name: valgrind reported (exit 0):"
            cat "$log/$name.vg"
            failed=1
        else
            echo "ok   $name ($((SECONDS - start)) s)"
        fi
    else
        echo "FAIL $name (exit $?)"
        cat "$log/$name.vg" "$log/$name.err"
        failed=1
    fi
}

# generation: the embedded demo model and prompt, then the v1 and v2 files
check generate_v0 "$cli" -n 24 -s 1 --threads 1
for f in kjv1m.v1.bin kjv1m.q80.bin; do
    if [ -f "$data/models/$f" ]; then
        check "generate_${f%.bin}" "$cli" "$data/models/$f" -z "$root/models/tokenizer.bin" \
            -i "And God said" -n 24 -s 1 --threads 1
    fi
done

# two threads: the parallel forward pass (OpenMP's pool: see valgrind.supp)
check generate_2threads "$cli" -n 24 -s 1 --threads 2

# chat: two user turns from a pipe (a system prompt, then a second turn that
# closes the first answer with EOS); seed 1 answers both within 256 positions
printf 'hello\nwho art thou\n' > "$log/turns"
check chat "$cli" -m chat -y "be brief" -n 256 -s 1 --threads 1 < "$log/turns"
answers=$(grep -o 'Assistant:' "$log/chat.out" | wc -l)
if [ "$answers" -ne 2 ]; then
    echo "FAIL chat: $answers answers instead of 2 (the second turn was not exercised)"
    failed=1
fi

# the tokenizer command and a file error path (no leaks on the way out)
check tokenize "$cli" tokenize -z "$root/models/tokenizer.bin" "héllo \xff wörld"
"${vg[@]}" --log-file="$log/bad.vg" "$cli" /dev/null -n 4 > /dev/null 2>&1
if [ -s "$log/bad.vg" ]; then
    echo "FAIL bad_file: valgrind reported:"
    cat "$log/bad.vg"
    failed=1
else
    echo "ok   bad_file"
fi
exit $failed
