#!/usr/bin/env bash
# A GGUF model carrying its vocabulary: kjv1m written as GGUF (tests/gguf's
# make_gguf.py) with tok1024-kjv.bin's vocabulary in its metadata
# (add_vocab.py), both with llama.cpp's gguf-py. Without -z lamina uses that
# vocabulary and prints kjv1m.bin's text; -z tokenizer.bin still overrides; a
# vocabulary of another size is a one-line error. `lamina batch` alike.
# usage: gguf_model_vocab.sh LAMINA PYTHON3 LLAMACPP_SRC DATA_DIR WORK_DIR
set -u
lamina=$1 py=$2 src=$3 data=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$src/gguf-py/gguf/__init__.py" ]; then
    echo "FAIL: llama.cpp's gguf-py not found in $src: run tests/llamacpp/source.sh" >&2
    exit 1
fi
mkdir -p "$work"
m=$work/kjv.vocab.gguf tok=$data/models/tok1024-kjv.bin
"$py" "$here/../gguf/make_gguf.py" "$src/gguf-py" "$work/kjv.f32.gguf" \
    --from "$data/models/kjv1m.bin" || exit 1
"$py" "$here/add_vocab.py" "$src/gguf-py" "$work/kjv.f32.gguf" "$tok" "$m" || exit 1
status=0
same() { # what $1 says equals what the command after it prints
    local want=$1
    shift
    local got
    got=$("$@" 2>"$work/err")
    if [ "$got" != "$want" ]; then
        echo "FAIL: $* printed [$got] ($(cat "$work/err")), want [$want]" >&2
        status=1
    fi
}
p="And it came to pass"
want=$("$lamina" "$data/models/kjv1m.bin" -z "$tok" -t 0 -n 60 -i "$p" 2>/dev/null)
same "$want" "$lamina" "$m" -t 0 -n 60 -i "$p"
same "$want" "$lamina" "$m" -z "$tok" -t 0 -n 60 -i "$p"
req='{"id":"a","prompt":"And it came to pass","max_tokens":20,"temperature":0}'
same "$(echo "$req" | "$lamina" batch "$data/models/kjv1m.bin" -z "$tok" 2>/dev/null)" \
    "$lamina" batch "$m" <(echo "$req")
t="And it came to pass, that Jesus said: 'Ææ' 12345"
same "$("$lamina" tokenize -z "$tok" -- "$t")" "$lamina" tokenize -z "$m" -- "$t"
"$lamina" "$m" -z "$data/vocab/ggml-vocab-llama-spm.gguf" -n 8 >/dev/null 2>"$work/err"
if [ $? -ne 1 ] || [ "$(wc -l <"$work/err")" -ne 1 ] ||
    ! grep -q "holds 32000 tokens, but the model's vocab_size is 1024" "$work/err"; then
    echo "FAIL: a 32000-token vocabulary for a 1024-token model: $(cat "$work/err")" >&2
    status=1
fi

# The file's chat template (tokenizer.chat_template) is the one chat, batch
# and info use: a ChatML model's messages give what --chat-template chatml
# gives; a file without one is Llama 2's; an unknown one fails chat only.
"$py" "$here/add_vocab.py" "$src/gguf-py" "$work/kjv.f32.gguf" "$tok" "$work/chatml.gguf" \
    "$data/templates/HuggingFaceTB-SmolLM3-3B.jinja" || exit 1
"$py" "$here/add_vocab.py" "$src/gguf-py" "$work/kjv.f32.gguf" "$tok" "$work/odd.gguf" \
    "$data/templates/$(awk '$2 == "other" { print $1; exit }' "$data/templates/EXPECTED")" || exit 1
info_chat() { "$lamina" info "$1" 2>&1 | sed -n 's/^chat: *//p'; }
same "chatml template (the file's tokenizer.chat_template)" info_chat "$work/chatml.gguf"
same "llama2 template (the file names none: Llama 2's)" info_chat "$m"
same "the file's template is none lamina knows (chat needs --chat-template NAME)" \
    info_chat "$work/odd.gguf"
msg='{"id":"c","messages":[{"role":"user","content":"Who art thou?"}],"max_tokens":4,"temperature":0}'
tokens() { "$lamina" batch "$@" <(echo "$msg") 2>/dev/null | sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p'; }
chatml=$(tokens "$data/models/kjv1m.bin" -z "$tok" --chat-template chatml)
llama2=$(tokens "$data/models/kjv1m.bin" -z "$tok")
same "$chatml" tokens "$work/chatml.gguf"
same "$llama2" tokens "$m"
[ -n "$chatml" ] && [ "$chatml" != "$llama2" ] || {
    echo "FAIL: chatml and llama2 prompts of the same message: $chatml and $llama2 tokens" >&2
    status=1
}
same "$chatml" tokens "$work/odd.gguf" --chat-template chatml
"$lamina" batch "$work/odd.gguf" <(echo "$msg") >"$work/odd.jsonl" 2>/dev/null
grep -q "none lamina recognises" "$work/odd.jsonl" || {
    echo "FAIL: messages with an unknown template: $(cat "$work/odd.jsonl")" >&2
    status=1
}
echo "gguf_model_vocab: status $status"
exit $status
