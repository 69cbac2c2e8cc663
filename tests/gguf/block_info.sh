#!/usr/bin/env bash
# `lamina info` on the block-type fixtures of make_fixtures.sh: the weights'
# type (a mixture named by its general.file_type, with each type's tensor
# count), the bits per weight, and --tensors listing each tensor's type. Fails
# (never skips) while a type's kernels are missing: its model does not load.
# Then the weights cache: a mixture's image is written, mapped and verified,
# with the text of the weights packed in memory.
# usage: block_info.sh LAMINA FIXTURE_DIR DATA_DIR
set -u
lamina=$1 fixtures=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/xdg # never the user's cache
pass=0 fail=0
info_has() {
    if "$lamina" info "$1" 2>&1 | grep -Eq -- "$2"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: lamina info $1 lacks /$2/: $("$lamina" info "$1" 2>&1 | head -c 300)"; fi
}
# the block types: each tensor's type (--tensors), a mixture named by its file type
info_has "$fixtures/rnd.q4_k_m.gguf" "^weights: +Q4_K_M \\(mixed: Q4_K 11, F32 5, Q6_K 3, Q5_0 1, Q8_0 1\\), 5.39 bits per weight$"
info_has "$fixtures/rnd.q5_k_m.gguf" "^weights: +Q5_K_M \\(mixed: Q5_K 11, F32 5, Q6_K 3, Q5_1 1, Q8_0 1\\)"
info_has "$fixtures/rnd.q6_k.gguf" "^weights: +Q6_K, 6.5[0-9] bits per weight$"
tensors() { "$lamina" info "$@" --tensors 2>&1; }
if tensors "$fixtures/rnd.q4_k_m.gguf" | grep -Eq "^tensor: +output.weight +Q6_K +\\[1024, 256\\] 215040 bytes$" &&
    tensors "$fixtures/rnd.q4_k_m.gguf" | grep -Eq "^tensor: +blk.0.attn_k.weight +Q5_0 " &&
    [ "$(tensors "$fixtures/rnd.q4_k_m.gguf" | grep -c "^tensor: ")" = 21 ]; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: lamina info --tensors does not list the Q4_K_M fixture's 21 tensors"
fi

# the weights cache: written, then mapped, the same text as packed in memory
m=$fixtures/rnd.q4_k_m.gguf
gen() { "$lamina" "$m" -z "$data/models/tok1024-kjv.bin" -s 5 -n 40 -i "And it came to pass" "$@" 2>/dev/null; }
mem=$(gen --no-weights-cache) && written=$(gen) && mapped=$(gen) &&
    w=$("$lamina" info "$m" 2>&1 | grep "^packing:") && "$lamina" cache verify "$m" >/dev/null 2>&1
rc=$?
if [ $rc = 0 ] && [ -n "$mem" ] && [ "$mem" = "$written" ] && [ "$mem" = "$mapped" ] &&
    printf '%s\n' "$w" | grep -q "mapped from the weights cache"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: Q4_K_M through the weights cache (rc $rc, info: $w)"
fi
echo "block_info: $pass passed, $fail failed"
[ $fail -eq 0 ]
