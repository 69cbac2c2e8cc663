#!/usr/bin/env bash
# Writes the GGUF fixtures of tests/gguf with llama.cpp's gguf-py
# (make_gguf.py): kjv1m's weights as F32 (tied, untied, alignment 256 and 64,
# explicit theta 10000, F16 norms), F16, BF16 and Q8_0 (with gguf-py's
# dequantization as F32), a non-default theta and epsilon, and a random GQA
# model whose head size is not dim / n_heads (F32, F16, Q8_0); random models
# of each ggml block type and of the Q4_K_M / Q5_K_M mixtures.
# usage: make_fixtures.sh PYTHON3 LLAMACPP_SRC DATA_DIR OUT_DIR
set -eu
py=$1 src=$2 data=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$src/gguf-py/gguf/__init__.py" ]; then
    echo "make_fixtures.sh: llama.cpp's gguf-py not found in $src/gguf-py:" \
        "run tests/llamacpp/source.sh (LAMINA_DEPS)" >&2
    exit 1
fi
"$py" -c 'import numpy' || { echo "make_fixtures.sh: $py has no numpy" >&2; exit 1; }
mkdir -p "$out"
mk() { "$py" "$here/make_gguf.py" "$src/gguf-py" "$out/$1" "${@:2}"; }
kjv=(--from "$data/models/kjv1m.bin")
mk kjv.f32.gguf "${kjv[@]}"
mk kjv.f32.untied.gguf "${kjv[@]}" --untied
mk kjv.align256.gguf "${kjv[@]}" --alignment 256
mk kjv.theta10k.gguf "${kjv[@]}" --theta 10000
mk kjv.f16norms.gguf "${kjv[@]}" --norm-type f16 --dequant "$out/kjv.f16norms.deq.gguf"
mk kjv.theta.gguf "${kjv[@]}" --theta 500000
mk kjv.eps.gguf "${kjv[@]}" --eps 1e-2
mk kjv.q8.gguf "${kjv[@]}" --type q8_0 --dequant "$out/kjv.q8deq.gguf"
mk kjv.q8.align64.untied.gguf "${kjv[@]}" --type q8_0 --alignment 64 --untied
mk kjv.f16.gguf "${kjv[@]}" --type f16 --dequant "$out/kjv.f16deq.gguf"
mk kjv.bf16.gguf "${kjv[@]}" --type bf16 --dequant "$out/kjv.bf16deq.gguf"
gqa=(--random 7 --dim 64 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --head-size 24 --vocab 1024 --seq 64)
mk gqa.f32.gguf "${gqa[@]}" --theta 20000 --eps 1e-6
mk gqa.q8.gguf "${gqa[@]}" --type q8_0 --theta 20000 --eps 1e-6
mk gqa.f16.gguf "${gqa[@]}" --type f16 --untied
# ggml's block types as random well-formed blocks (dims multiples of 256):
# each type alone (Q4_0 with a tied classifier), llama-quantize's Q4_K_M and
# Q5_K_M mixtures (with forced legacy fallbacks)
rnd=(--random 11 --dim 256 --hidden 768 --layers 2 --heads 4 --kv-heads 2 --vocab 1024 --seq 128)
mk rnd.q4_0.gguf "${rnd[@]}" --type q4_0
for t in q4_1 q5_0 q5_1 q4_k q5_k q6_k; do mk rnd.$t.gguf "${rnd[@]}" --type $t --untied; done
mk rnd.q4_k_m.gguf "${rnd[@]}" --mix q4_k_m --untied
mk rnd.q5_k_m.gguf "${rnd[@]}" --mix q5_k_m --untied
touch "$out/.done"
