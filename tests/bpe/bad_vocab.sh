#!/usr/bin/env bash
# Byte-level BPE vocabularies with one mistake each (tests/bpe/make_vocabs.py
# wrote them into tests/fuzz/regressions/gguf): `lamina tokenize -z` refuses
# each with one line naming the problem, exit status 1, no crash; the valid
# ones encode.   Usage: bad_vocab.sh LAMINA DIR
set -u
lamina=$1 dir=$2
status=0
expect() { # FILE MESSAGE-PART
    out=$("$lamina" tokenize -z "$dir/$1" -- ' the them' 2>&1)
    rc=$?
    if [ $rc -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || [[ "$out" != *"$2"* ]]; then
        echo "FAIL: $1: rc $rc, '$out' (want one line with '$2')" >&2
        status=1
    fi
}
expect bpe-bad-pre.gguf 'tokenizer.ggml.pre "qwen-unknown" is not a pre-tokenizer lamina knows'
expect bpe-no-pre.gguf 'tokenizer.ggml.pre: missing'
expect bpe-merge-unknown.gguf 'tokenizer.ggml.merges[2] names a right token that is not in the vocabulary'
expect bpe-merge-result.gguf 'tokenizer.ggml.merges[2] names a merged token that is not in the vocabulary'
expect bpe-merge-malformed.gguf 'tokenizer.ggml.merges[1] is not two tokens split by a space'
expect bpe-no-merges.gguf 'tokenizer.ggml.merges: missing'
expect bpe-merges-int.gguf 'tokenizer.ggml.merges: elements are i32, expected string'
expect bpe-bos-range.gguf 'tokenizer.ggml.bos_token_id 261 is out of range (261 tokens)'
expect bpe-eot-range.gguf 'tokenizer.ggml.eot_token_id 5000 is out of range (261 tokens)'
# the valid ones: BOS (llama-bpe adds it), " the" merged, " m" two bytes
for f in bpe-ok.gguf:'259 258 32 109' bpe-smollm.gguf:'258 32 109'; do
    got=$("$lamina" tokenize -z "$dir/${f%%:*}" -- ' the m' 2>&1)
    if [ "$got" != "${f#*:}" ]; then
        echo "FAIL: ${f%%:*}: '$got', want '${f#*:}'" >&2
        status=1
    fi
done
echo "bad_vocab: status $status"
exit $status
