#!/usr/bin/env bash
# `lamina batch` takes the request fields of issue 25 from the shared parser:
# sampling controls (neutral values give the default text byte for byte,
# top_k 1 and min_p 1 the greedy text, each control deterministic with a
# seed), max_completion_tokens, prompts as token ids, logprobs records, and
# error records naming the field for bad values.
#   controls_test.sh LAMINA JSONL_GET TEST_DATA
lamina=$1 get=$2 data=$3
model=$data/models/kjv1m.bin tok=$data/models/tok1024-kjv.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 passes=0
pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
same() { # record A and record B of out.jsonl have the same text: what
    local a b
    a=$("$get" "$tmp/out.jsonl" "$1" text) b=$("$get" "$tmp/out.jsonl" "$2" text)
    [ -n "$a" ] && [ "$a" == "$b" ] && pass || fail "$3: records $1 and $2 differ (or are empty): '$a' / '$b'"
}
differ() {
    local a b
    a=$("$get" "$tmp/out.jsonl" "$1" text) b=$("$get" "$tmp/out.jsonl" "$2" text)
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] && pass || fail "$3: records $1 and $2 are the same (or empty): '$a'"
}
has_error() { # record N failed naming the field
    local e
    e=$("$get" "$tmp/out.jsonl" "$1" error)
    [[ $e == *"$2"* ]] && pass || fail "record $1: want an error naming $2, got '$e'"
}

p='"prompt":"And God said","seed":21,"max_tokens":40'
ids=$("$lamina" tokenize -z "$tok" "And God said" | tr -s ' \n' ',' | sed 's/,$//')
[[ $ids =~ ^1(,[0-9]+)+$ ]] && pass || fail "lamina tokenize: '$ids'"
cat >"$tmp/in.jsonl" <<JSONL
{$p}
{$p,"top_k":0,"min_p":0,"repeat_penalty":1,"presence_penalty":0,"frequency_penalty":0,"logit_bias":{},"repeat_last_n":9}
{$p,"temperature":0}
{$p,"top_k":1}
{$p,"min_p":1}
{$p,"presence_penalty":1.5,"frequency_penalty":1}
{$p,"presence_penalty":1.5,"frequency_penalty":1}
{$p,"repeat_penalty":2,"repeat_last_n":-1}
{$p,"logit_bias":{"261":-100,"3":2.5}}
{"prompt":"And God said","seed":21,"max_completion_tokens":40}
{"prompt":[$ids],"seed":21,"max_tokens":40}
{$p,"top_k":-1}
{$p,"min_p":"0.1"}
{$p,"logit_bias":{"1024":1}}
{$p,"logprobs":30}
{"prompt":[1,99999],"max_tokens":2}
{$p,"max_completion_tokens":3}
{$p,"logprobs":2,"echo":true}
JSONL
"$lamina" batch "$model" -z "$tok" "$tmp/in.jsonl" -o "$tmp/out.jsonl" 2>"$tmp/err"
[ -s "$tmp/out.jsonl" ] && pass || fail "no output: $(cat "$tmp/err")"
same 1 2 "neutral controls: the default text"
same 3 4 "top_k 1: greedy"
same 3 5 "min_p 1: greedy"
same 6 7 "penalties: deterministic with a seed"
differ 1 6 "presence and frequency penalties change the text"
differ 1 8 "repeat_penalty changes the text"
differ 1 9 "logit_bias changes the text"
same 1 10 "max_completion_tokens = max_tokens"
same 1 11 "a prompt of ids ($ids, 'And God said' tokenized): the text's"
has_error 12 "field 'top_k'"
has_error 13 "field 'min_p'"
has_error 14 "field 'logit_bias.1024'"
has_error 15 "field 'logprobs'"
has_error 16 "field 'prompt[1]'"
has_error 17 "field 'max_completion_tokens'"
line=$(sed -n 18p "$tmp/out.jsonl")
[[ $line == *'"logprobs":{"tokens":["",'*'"token_logprobs":[null,'*'"text_offset":[0,'* ]] && pass ||
    fail "record 18: no logprobs record with echo: $line"
[[ $(sed -n 1p "$tmp/out.jsonl") != *logprobs* ]] && pass || fail "record 1: logprobs without asking"
echo "controls: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
