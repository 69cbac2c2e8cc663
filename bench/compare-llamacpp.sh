#!/usr/bin/env bash
# Side-by-side speed of lamina and llama.cpp on the same random-weight models,
# same threads, same prompt and decode lengths, interleaved. Nothing of
# llama.cpp enters this repository: it is built in the work folder from the git
# bundle that the npm package node-llama-cpp@3.22.1 ships (llama.cpp de3ff81,
# the commit of issue 5's reference figures).
#
#   bench/compare-llamacpp.sh [--work DIR] [--shapes 15M,42M,110M]
#                             [--threads N] [--rounds N] [--lamina PATH]
#                             [--tokenizer llama2-32k.bin] [--batch N]
#                             [--dtypes f32,q8,q4_0,q4_k_m,q5_k_m,q6_k]
#                             [--llamacpp-bin DIR]
#
# --dtypes (default f32,q8): f32 and q8 run lamina on its own v1/v2 files of
# the weights and llama.cpp on its F32/Q8_0 GGUFs; a block type (q4_0, q4_k_m,
# q5_k_m, q6_k; also q8_0) runs BOTH engines on the same GGUF file, made by
# llama-quantize from the F32 GGUF (its per-tensor mixture for the _M types;
# 15M and 42M have rows that are not multiples of 256, where llama-quantize
# falls back to other types). --llamacpp-bin DIR uses the llama.cpp binaries
# in DIR (llama-bench, llama-quantize, llama-convert-llama2c-to-ggml; with
# --batch also llama-batched-bench), e.g. those tests/llamacpp/build.sh builds
# into $LAMINA_DEPS/llama.cpp-build/bin, instead of building its own.
#
# Needs npm (registry access, first run only), git, cmake, a C/C++ compiler,
# python3 and jq. Steps, each skipped when its output exists in the work folder:
#   1. build llama.cpp's llama-bench, llama-convert-llama2c-to-ggml and
#      llama-quantize (-DGGML_NATIVE=ON, OpenMP, Release);
#   2. per shape: a random v0 checkpoint (bench/random_checkpoint.py), its Q8_0
#      v2 from `lamina quantize`, and the same weights as F32 and Q8_0 GGUF
#      (llama-convert-llama2c-to-ggml with the Llama 2 vocabulary, llama-quantize);
#   3. rounds: per shape and dtype, `lamina bench --model` and `llama-bench`
#      (a 128-token prompt; 128 tokens decoded from an empty cache; one
#      repetition after a warm-up each), the order alternating every round so
#      that drift hits both alike.
# --batch N compares batched generation instead: N sequences, each with its own
# 128-token prompt, prefilled together, then 64 tokens each decoded together:
# `lamina bench --model --batch N` against llama.cpp's `llama-batched-bench
# -npp 128 -ntg 64 -npl N` (aggregate tok/s over the N sequences).
# bench/gate_stats.c then reports per metric the medians and the geometric mean
# of the paired ratios lamina / llama.cpp (B/A) with a 95% interval; "faster"
# means lamina is faster with that confidence, "FAIL" that it is slower by
# more than 1%.
# Both decode from an empty cache. Differences that remain by design:
# llama.cpp keeps its KV cache in f16 (lamina in f32, as llama2.c, whose
# tokens it reproduces), and its Q8_0 GGUF has blocks of 32 (lamina's v2 file
# the exporter's group size: 32 for 15M and 42M, 64 for 110M).
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=/tmp/lamina-llamacpp
shapes=15M,42M,110M
threads=$( (nproc || echo 2) 2>/dev/null)
rounds=6
batch=0
dtypes=f32,q8
llamacpp_bin=
lamina=$repo/build/lamina
tokenizer=$repo/tests/data/tokenizers/llama2-32k.bin
npm_package=node-llama-cpp@3.22.1

die() {
    echo "compare-llamacpp: $*" >&2
    exit 1
}
# shellcheck source=bench/models.sh
. "$here/models.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --work) work=$2 ;;
    --shapes) shapes=$2 ;;
    --threads) threads=$2 ;;
    --rounds) rounds=$2 ;;
    --lamina) lamina=$2 ;;
    --tokenizer) tokenizer=$2 ;;
    --batch) batch=$2 ;;
    --dtypes) dtypes=$2 ;;
    --llamacpp-bin) llamacpp_bin=$2 ;;
    -h | --help)
        sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    [ $# -ge 2 ] || die "option '$1' needs a value"
    shift 2
done

for tool in npm git cmake python3 jq cc; do
    command -v "$tool" > /dev/null || die "needs '$tool' on PATH"
done
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 3)) || die "--rounds needs a number >= 3"
[[ $threads =~ ^[0-9]+$ ]] && ((threads >= 1)) || die "--threads needs a positive number"
[[ $batch =~ ^[0-9]+$ ]] && ((batch <= 256)) || die "--batch needs a number from 0 (off) to 256"
[ -x "$lamina" ] || die "no lamina binary at $lamina (build first, or --lamina PATH)"
[ -r "$tokenizer" ] || die "cannot read the Llama 2 tokenizer $tokenizer (--tokenizer PATH)"
mkdir -p "$work/models" || die "cannot create $work"
llama=$work/llama.cpp
bin=$llama/build/bin
[ -n "$llamacpp_bin" ] && bin=$llamacpp_bin
IFS=, read -r -a dtype_list <<< "$dtypes"
for d in "${dtype_list[@]}"; do
    case $d in
    f32 | q8 | q4_0 | q4_k_m | q5_k_m | q6_k | q8_0) ;;
    *) die "unknown dtype '$d' (f32, q8, q4_0, q4_k_m, q5_k_m, q6_k, q8_0)" ;;
    esac
done

# llama.cpp's own CPU build for this machine, without AMX: lamina has no AMX
# kernels, so the comparison stays between AVX-512 (VNNI) code on both sides;
# and on the Granite Rapids VM of 2026-11-29, llama.cpp's AMX Q8_0 kernel
# (tinygemm_kernel_amx) crashed with SIGSEGV. GCC lets -mno-* win over
# -march=native in any order.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
build_flags="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DLLAMA_CURL=OFF
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF"
build_id="$build_flags $no_amx" # kept beside the build: another one is rebuilt

build_llamacpp() {
    if [ -n "$llamacpp_bin" ]; then
        local t
        for t in llama-bench llama-convert-llama2c-to-ggml llama-quantize; do
            [ -x "$bin/$t" ] || die "no $t in $bin (--llamacpp-bin)"
        done
        ((batch == 0)) || [ -x "$bin/llama-batched-bench" ] || die "no llama-batched-bench in $bin"
        return 0
    fi
    local stamp=$llama/build/lamina-flags
    [ -x "$bin/llama-bench" ] && [ -x "$bin/llama-convert-llama2c-to-ggml" ] &&
        [ -x "$bin/llama-quantize" ] && [ -x "$bin/llama-batched-bench" ] &&
        [ "$(cat "$stamp" 2> /dev/null)" = "$build_id" ] && return 0
    echo "== building llama.cpp from $npm_package in $llama" >&2
    if [ ! -d "$llama/.git" ]; then
        (cd "$work" && npm pack --silent "$npm_package" > /dev/null) || die "npm pack $npm_package failed"
        tar -xzf "$work"/node-llama-cpp-*.tgz -C "$work" package/llama/gitRelease.bundle ||
            die "no llama/gitRelease.bundle in the package"
        git clone -q "$work/package/llama/gitRelease.bundle" "$llama" || die "cannot clone the bundle"
    fi
    # shellcheck disable=SC2086 # the flags are words
    cmake -S "$llama" -B "$llama/build" $build_flags -DCMAKE_C_FLAGS="$no_amx" \
        -DCMAKE_CXX_FLAGS="$no_amx" > "$work/llamacpp-configure.log" 2>&1 ||
        die "llama.cpp configure failed: $work/llamacpp-configure.log"
    cmake --build "$llama/build" -j "$(nproc)" --target llama-bench llama-batched-bench \
        llama-convert-llama2c-to-ggml llama-quantize > "$work/llamacpp-build.log" 2>&1 ||
        die "llama.cpp build failed: $work/llamacpp-build.log"
    echo "$build_id" > "$stamp"
}

# The same random weights for both engines, f32 and Q8_0.
make_models() {
    local s=$1 m=$work/models/$1
    random_checkpoint "$m.bin" "$s"
    quantized_copy "$m.bin" "$m.q8.bin"
    [ -s "$m.f32.gguf" ] || "$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$tokenizer" \
        --llama2c-model "$m.bin" --llama2c-output-model "$m.f32.gguf" > "$m.convert.log" 2>&1 ||
        die "conversion of $m.bin failed: $m.convert.log"
    [ -s "$m.q8_0.gguf" ] || "$bin/llama-quantize" "$m.f32.gguf" "$m.q8_0.gguf" Q8_0 \
        > "$m.quantize.log" 2>&1 || die "llama-quantize of $m.f32.gguf failed: $m.quantize.log"
    local d t
    for d in "${dtype_list[@]}"; do
        case $d in f32 | q8) continue ;; esac
        t=${d^^}
        [ -s "$m.$d.gguf" ] || "$bin/llama-quantize" "$m.f32.gguf" "$m.$d.gguf" "$t" \
            > "$m.quantize-$d.log" 2>&1 || die "llama-quantize $t of $m.f32.gguf failed: $m.quantize-$d.log"
    done
}

# "prefill decode" tok/s of one run of each engine. llama-bench decodes from an
# empty cache (its tg test has no prompt), so lamina's decode does too.
lamina_tps() {
    "$lamina" bench --model "$1" --threads "$threads" --prompt-tokens "$2" --gen-tokens "$3" \
        --reps 1 --warmup 1 --no-probes --json - 2> /dev/null |
        jq -r '.benchmarks[] | select(.run_type == "iteration") | .tok_per_s'
}
run_lamina() {
    echo "$(lamina_tps "$1" 128 0) $(lamina_tps "$1" 0 128)"
}
run_llamacpp() {
    "$bin/llama-bench" -m "$1" -t "$threads" -p 128 -n 128 -r 1 -o json 2> /dev/null |
        jq -r '[.[] | .avg_ts] | join(" ")'
}
# Batched: "prefill decode" aggregate tok/s of N sequences (128-token prompts, 64 tokens each).
run_lamina_batch() {
    "$lamina" bench --model "$1" --threads "$threads" --batch "$batch" --prompt-tokens 128 \
        --gen-tokens 64 --reps 1 --warmup 1 --no-probes --json - 2> /dev/null |
        jq -r '[.benchmarks[] | select(.run_type == "iteration" and .batch != null) | .tok_per_s]
               | join(" ")'
}
run_llamacpp_batch() {
    "$bin/llama-batched-bench" -m "$1" -c $((batch * 192 + 256)) -b 2048 -ub 512 -npp 128 \
        -ntg 64 -npl "$batch" -t "$threads" -tb "$threads" --output-format jsonl 2>&1 |
        grep '^{' | jq -r '"\(.speed_pp) \(.speed_tg)"'
}
run_ours() { if ((batch)); then run_lamina_batch "$1"; else run_lamina "$1"; fi; }
run_theirs() { if ((batch)); then run_llamacpp_batch "$1"; else run_llamacpp "$1"; fi; }

build_llamacpp
IFS=, read -r -a shape_list <<< "$shapes"
for s in "${shape_list[@]}"; do
    [ -n "$(shape_config "$s")" ] || die "unknown shape '$s' (lamina bench --list-shapes)"
    make_models "$s"
done

label=""
((batch)) && label=" x$batch"
pairs=$work/pairs.tsv
: > "$pairs"
for ((r = 1; r <= rounds; r++)); do
    echo "== round $r of $rounds" >&2
    for s in "${shape_list[@]}"; do
        for d in "${dtype_list[@]}"; do
            m=$work/models/$s
            case $d in
            f32) ours=$m.bin theirs=$m.f32.gguf ;;
            q8) ours=$m.q8.bin theirs=$m.q8_0.gguf ;;
            *) ours=$m.$d.gguf theirs=$m.$d.gguf ;; # the same file for both
            esac
            if ((r % 2)); then
                a=$(run_ours "$ours") b=$(run_theirs "$theirs")
            else
                b=$(run_theirs "$theirs") a=$(run_ours "$ours")
            fi
            read -r a_pre a_dec <<< "$a"
            read -r b_pre b_dec <<< "$b"
            [ -n "${a_dec:-}" ] || die "lamina bench on $ours gave no figures"
            [ -n "${b_dec:-}" ] || die "llama-bench on $theirs gave no figures"
            printf '%s %s%s prefill\t%d\t%s\t%s\n%s %s%s decode\t%d\t%s\t%s\n' "$s" "$d" "$label" \
                "$r" "$b_pre" "$a_pre" "$s" "$d" "$label" "$r" "$b_dec" "$a_dec" >> "$pairs"
        done
    done
done

cc -O2 -std=c17 -o "$work/gate_stats" "$here/gate_stats.c" -lm || die "cannot compile gate_stats.c"
echo "A = llama.cpp ($npm_package), B = lamina ($("$lamina" --version | head -1)); $threads threads;"
if ((batch)); then
    echo "$batch sequences: their 128-token prompts together (prefill tok/s, all of them), then 64" \
        "tokens each decoded together (decode tok/s, all of them); $rounds rounds"
else
    echo "128-token prompt (prefill tok/s), 128 tokens decoded from an empty cache (decode tok/s); $rounds rounds"
fi
"$work/gate_stats" --threshold 1 "$pairs"
exit 0
