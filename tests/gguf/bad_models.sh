#!/usr/bin/env bash
# GGUF files that lamina must refuse, written by llama.cpp's gguf-py
# (make_gguf.py) and cut or patched here: each gives exit status 1 and one
# line on stderr naming the key or tensor at fault. Then good ones through the
# CLI: kjv1m as GGUF F32 writes the .bin's text; `lamina info` describes GGUF.
# usage: bad_models.sh LAMINA PYTHON3 LLAMACPP_SRC DATA_DIR FIXTURE_DIR
set -u
lamina=$1 py=$2 src=$3 data=$4 fixtures=$5
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# expect FILE REGEX: `lamina info FILE` fails with one stderr line matching REGEX.
expect() {
    local file=$1 want=$2 err rc
    err=$("$lamina" info "$file" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
        printf '%s\n' "$err" | grep -Eq -- "$want"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: lamina info $file -> rc $rc, stderr: $err (wanted /$want/)"
    fi
}

mk() { "$py" "$here/make_gguf.py" "$src/gguf-py" "$tmp/$1" "${@:2}" || echo "FAIL: make_gguf $1"; }
kjv=(--from "$data/models/kjv1m.bin")
wide=(--random 3 --dim 256 --hidden 256 --layers 1 --heads 4 --kv-heads 4 --vocab 512 --seq 32)

mk arch.gguf "${kjv[@]}" --arch gpt2
expect "$tmp/arch.gguf" "arch.gguf: GGUF general.architecture is 'gpt2'; lamina runs 'llama' models only"
mk iq2.gguf "${wide[@]}" --raw-type blk.0.attn_v.weight:IQ2_XS
expect "$tmp/iq2.gguf" "GGUF tensor 'blk.0.attn_v.weight' has type IQ2_XS, which lamina does not run"
# block types: rows that are not whole blocks (kjv1m's 128 columns as Q4_K:
# the type of an F32 tensor patched), a block tensor cut short
retype() { # SRC DST TENSOR GGML_TYPE -> a copy with that tensor's type id replaced
    "$py" - "$@" <<'PY'
import struct, sys
src, dst, name, typ = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
b = bytearray(open(src, "rb").read())
at = b.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
n_dims = struct.unpack_from("<I", b, at)[0]
struct.pack_into("<I", b, at + 4 + 8 * n_dims, typ)
open(dst, "wb").write(b)
PY
}
retype "$fixtures/kjv.f32.gguf" "$tmp/q4k_cols.gguf" blk.0.ffn_up.weight 12
expect "$tmp/q4k_cols.gguf" "GGUF tensor 'blk.0.ffn_up.weight': its innermost dimension 128 is not a multiple of Q4_K's block 256"
retype "$fixtures/kjv.f32.gguf" "$tmp/q6k_cols.gguf" blk.1.ffn_down.weight 14
expect "$tmp/q6k_cols.gguf" "GGUF tensor 'blk.1.ffn_down.weight': its innermost dimension 352 is not a multiple of Q6_K's block 256"
q41=$fixtures/rnd.q4_1.gguf # its last tensor: output.weight, Q4_1 [1024, 256]
head -c $(($(stat -c %s "$q41") - 1000)) "$q41" >"$tmp/cut_q4_1.gguf"
expect "$tmp/cut_q4_1.gguf" "GGUF tensor 'output.weight': 163840 bytes at offset [0-9]+ run past the end of the data section"
mk ffn.gguf "${kjv[@]}" --claim feed_forward_length=384
expect "$tmp/ffn.gguf" "GGUF tensor 'blk.0.ffn_gate.weight' has shape \[128, 352\] \(innermost first\), expected \[128, 384\]"
mk dim.gguf "${kjv[@]}" --claim embedding_length=96 --claim rope.dimension_count=24
expect "$tmp/dim.gguf" "GGUF tensor 'token_embd.weight' has shape \[128, 1024\] \(innermost first\), expected \[96, 1024\]"
mk kvh.gguf "${kjv[@]}" --claim attention.head_count_kv=3
expect "$tmp/kvh.gguf" "n_heads 4 is not a multiple of n_kv_heads 3"
mk heads.gguf "${kjv[@]}" --claim attention.head_count=8 --claim rope.dimension_count=16
expect "$tmp/heads.gguf" "GGUF tensor 'blk.0.attn_k.weight' has shape \[128, 64\] \(innermost first\), expected \[128, 32\]"
mk layers.gguf "${kjv[@]}" --claim block_count=6
expect "$tmp/layers.gguf" "GGUF llama.block_count is 6 but the file has only 47 tensors"
mk manylayers.gguf "${kjv[@]}" --claim block_count=1000000
expect "$tmp/manylayers.gguf" "GGUF llama.block_count is 1000000 but the file has only 47 tensors"
mk vocab.gguf "${kjv[@]}" --claim vocab_size=1000
expect "$tmp/vocab.gguf" "GGUF llama.vocab_size 1000 disagrees with token_embd.weight's 1024 rows"
mk ctx.gguf "${kjv[@]}" --claim context_length=0
expect "$tmp/ctx.gguf" "GGUF key 'llama.context_length' is 0, expected 1 to"
mk rot.gguf "${kjv[@]}" --claim rope.dimension_count=16
expect "$tmp/rot.gguf" "llama.rope.dimension_count 16 differs from the head size 32: partial RoPE"
mk moe.gguf "${kjv[@]}" --claim expert_count=8
expect "$tmp/moe.gguf" "llama.expert_count is 8: mixture-of-experts models are not supported"
# Llama 3's rope scaling (rope.c): rope_freqs.weight and the rope.scaling keys
ff16=1,1,1,1,1,1,1,2,4,8,8,8,8,8,8,8
mk ffshort.gguf "${kjv[@]}" --rope-freqs 1,1,1,1,8,8,8,8
expect "$tmp/ffshort.gguf" "GGUF tensor 'rope_freqs.weight' has 8 values in 1 dimensions, expected 16 \(head size / 2\)"
mk ffzero.gguf "${kjv[@]}" --rope-freqs ${ff16/2/0}
expect "$tmp/ffzero.gguf" "GGUF tensor 'rope_freqs.weight' holds 0 at pair 7: RoPE frequency factors must be positive and finite"
mk ffnan.gguf "${kjv[@]}" --rope-freqs ${ff16/4/nan}
expect "$tmp/ffnan.gguf" "GGUF tensor 'rope_freqs.weight' holds nan at pair 8: RoPE frequency factors must be positive and finite"
mk ffneg.gguf "${kjv[@]}" --rope-freqs=-1${ff16#1}
expect "$tmp/ffneg.gguf" "GGUF tensor 'rope_freqs.weight' holds -1 at pair 0"
mk ffinf.gguf "${kjv[@]}" --rope-freqs ${ff16/2/inf}
expect "$tmp/ffinf.gguf" "GGUF tensor 'rope_freqs.weight' holds inf at pair 7"
mk ff16.gguf "${kjv[@]}" --rope-freqs $ff16 --rope-freqs-type f16
expect "$tmp/ff16.gguf" "GGUF tensor 'rope_freqs.weight' must be F32"
mk factor0.gguf "${kjv[@]}" --key-str rope.scaling.type=none --key-f32 rope.scaling.factor=0
expect "$tmp/factor0.gguf" "GGUF llama.rope.scaling.factor is 0, must be positive and finite"
mk factornan.gguf "${kjv[@]}" --key-str rope.scaling.type=none --key-f32 rope.scaling.factor=nan
expect "$tmp/factornan.gguf" "GGUF llama.rope.scaling.factor is nan, must be positive and finite"
mk factorneg.gguf "${kjv[@]}" --key-f32=rope.scaling.factor=-8
expect "$tmp/factorneg.gguf" "GGUF llama.rope.scaling.factor is -8, must be positive and finite"
mk linear.gguf "${kjv[@]}" --key-f32 rope.scaling.factor=4
expect "$tmp/linear.gguf" "GGUF llama.rope.scaling.factor is 4 with no scaling type: llama.cpp reads that as linear RoPE scaling"
mk yarn.gguf "${kjv[@]}" --key-str rope.scaling.type=yarn --key-f32 rope.scaling.factor=4
expect "$tmp/yarn.gguf" "GGUF llama.rope.scaling.type is 'yarn': lamina runs 'none' and Llama 3's per-pair factors"
mk orig0.gguf "${kjv[@]}" --rope-freqs $ff16 --claim rope.scaling.original_context_length=0
expect "$tmp/orig0.gguf" "GGUF llama.rope.scaling.original_context_length is 0, must be 1 to"
mk origneg.gguf "${kjv[@]}" --rope-freqs $ff16 --claim rope.scaling.original_context_length=4294967295
expect "$tmp/origneg.gguf" "GGUF llama.rope.scaling.original_context_length is 4294967295, must be 1 to"
mk llama3.gguf "${kjv[@]}" --rope-freqs $ff16 --claim rope.scaling.original_context_length=64 \
    --key-str rope.scaling.type=none --key-f32 rope.scaling.factor=1
mk norm.gguf "${kjv[@]}" --drop output_norm.weight
expect "$tmp/norm.gguf" "GGUF tensor 'output_norm.weight' is missing"
mk wq.gguf "${kjv[@]}" --drop blk.3.attn_q.weight
expect "$tmp/wq.gguf" "GGUF tensor 'blk.3.attn_q.weight' is missing"
mk kl.gguf "${kjv[@]}" --claim attention.key_length=16 --claim attention.value_length=32
expect "$tmp/kl.gguf" "key_length 16 differs from value_length 32"

# cut short: every tensor must lie inside the file
f32=$fixtures/kjv.f32.gguf q8=$fixtures/kjv.q8.gguf
head -c $(($(wc -c <"$f32") - 1)) "$f32" >"$tmp/cut1.gguf"
expect "$tmp/cut1.gguf" "GGUF tensor 'output_norm.weight': 512 bytes at offset [0-9]+ run past the end of the data section"
head -c 100000 "$q8" >"$tmp/cut2.gguf"
expect "$tmp/cut2.gguf" "GGUF tensor 'token_embd.weight': its 139264 bytes exceed the file \\(100000 bytes\\)"
head -c 400000 "$q8" >"$tmp/cut2b.gguf"
expect "$tmp/cut2b.gguf" "GGUF tensor '[a-z0-9_.]+': [0-9]+ bytes at offset [0-9]+ run past the end of the data section"
head -c 700 "$f32" >"$tmp/cut3.gguf"
expect "$tmp/cut3.gguf" "cut3.gguf: GGUF header claims 47 tensors, more than the 303 bytes left can hold"
head -c 2500 "$f32" >"$tmp/cut3b.gguf"
expect "$tmp/cut3b.gguf" "cut3b.gguf: GGUF tensor 'token_embd.weight': its 524288 bytes exceed the file \\(2500 bytes\\)"
head -c 20 "$f32" >"$tmp/cut4.gguf"
expect "$tmp/cut4.gguf" "cut4.gguf: truncated GGUF header \(20 bytes\)"
# patched: the tensor count, a key's string length, a value type, the version
patch() { # FILE OFFSET FORMAT VALUE -> a copy with a little-endian integer replaced
    "$py" - "$1" "$2" "$3" "$4" "$5" <<'PY'
import struct, sys
src, dst, off, fmt, val = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
b = bytearray(open(src, "rb").read())
struct.pack_into(fmt, b, off, val)
open(dst, "wb").write(b)
PY
}
patch "$f32" "$tmp/count.gguf" 8 '<Q' $((1 << 60))
expect "$tmp/count.gguf" "GGUF header claims 1152921504606846976 tensors, more than the [0-9]+ bytes left can hold"
patch "$f32" "$tmp/kvcount.gguf" 16 '<Q' $((1 << 62))
expect "$tmp/kvcount.gguf" "GGUF header claims 4611686018427387904 metadata entries"
patch "$f32" "$tmp/keylen.gguf" 24 '<Q' $((1 << 62))
expect "$tmp/keylen.gguf" "GGUF metadata entry 0 of [0-9]+: key runs past the end of the file"
# the first key is general.architecture (20 bytes): its value type follows
patch "$f32" "$tmp/vtype.gguf" $((24 + 8 + 20)) '<I' 13
expect "$tmp/vtype.gguf" "GGUF key 'general.architecture': unknown value type 13"
patch "$f32" "$tmp/strlen.gguf" $((24 + 8 + 20 + 4)) '<Q' $((1 << 40))
expect "$tmp/strlen.gguf" "GGUF key 'general.architecture': string runs past the end of the file"
patch "$f32" "$tmp/version.gguf" 4 '<I' 4
expect "$tmp/version.gguf" "unsupported GGUF version 4 \(lamina reads versions 2 and 3\)"
patch "$f32" "$tmp/v2.gguf" 4 '<I' 2
"$lamina" info "$tmp/v2.gguf" >/dev/null 2>&1 && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL: a v2 header (same layout as v3) does not load"; }

# and the good ones through the CLI: the .bin's text, and what info says
same() {
    local a b
    a=$("$lamina" "$data/models/kjv1m.bin" -z "$data/models/tok1024-kjv.bin" -s 7 -n 80 -i "And it came to pass" 2>/dev/null)
    b=$("$lamina" "$1" -z "$data/models/tok1024-kjv.bin" -s 7 -n 80 -i "And it came to pass" 2>/dev/null)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $1 does not give kjv1m.bin's text"; fi
}
same "$f32"
same "$fixtures/kjv.f32.untied.gguf"
info_has() {
    if "$lamina" info "$1" 2>&1 | grep -Eq -- "$2"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: lamina info $1 lacks /$2/"; fi
}
info_has "$fixtures/kjv.q8.gguf" "^format: +GGUF v3 \\(llama; tensors F32, Q8_0\\)"
info_has "$fixtures/kjv.theta.gguf" "^rope/norm: +theta 500000, rmsnorm eps 1e-05"
info_has "$fixtures/gqa.f32.gguf" "n_heads 4, n_kv_heads 2, .*\\(head_size 24\\)"
info_has "$fixtures/gqa.f32.gguf" "theta 20000, rmsnorm eps 1e-06"
info_has "$fixtures/kjv.bf16.gguf" "tensors F32, BF16"
info_has "$tmp/llama3.gguf" "^rope scale: +llama3 \\(rope_freqs.weight\\): factor 8 \\(low frequencies\\) to 1 \\(high\\), 9 of 16 pairs scaled, original context 64$"
info_has "$tmp/llama3.gguf" "^classifier: +shared with the token embedding"
info_has "$fixtures/kjv.q8.gguf" "^rope scale: +none$"
info_has "$fixtures/kjv.q8.gguf" "^weights: +Q8_0, 8.5[0-9] bits per weight$"
info_has "$fixtures/kjv.f32.gguf" "^weights: +F32, 32.00 bits per weight$"
echo "bad_models: $pass passed, $fail failed"
[ $fail -eq 0 ]
