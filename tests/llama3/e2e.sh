#!/usr/bin/env bash
# A Llama-3-family GGUF end to end (issue 24): random weights of Llama 3's
# shape (GQA 4:1, llama3 rope scaling, tied output) with Llama 3's byte-level
# BPE vocabulary (llama.cpp's ggml-vocab-llama-bpe.gguf), through generate,
# chat with the llama3 template, lamina batch and lamina serve. The prompt has
# characters that Llama 3 splits into byte tokens: the printed text must hold
# them whole. Seeded texts are the same on every kernel set, thread count,
# front end, and with the weights image or without.
#
# Usage: e2e.sh LAMINA PYTHON3 GGUF_PY DATA WORKDIR
set -euo pipefail
lamina=$1 py=$2 gguf_py=$3 data=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
export XDG_CACHE_HOME="$work/xdg"
fails=0 passes=0
check() { # check NAME COND...
    local name=$1
    shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}

m=$work/llama3-bpe.gguf
"$py" "$(dirname "$0")/make_llama3.py" "$gguf_py" "$m" --scaled \
    --spm-vocab "$data/vocab/ggml-vocab-llama-bpe.gguf"
prompt='Hello 世界, ça va? 🙂'

# generate: the prompt printed back exactly, the same text everywhere
want=$("$lamina" "$m" -n 28 -s 1 -i "$prompt" 2> "$work/err")
check "generate starts with the prompt" [ "${want:0:${#prompt}}" = "$prompt" ]
check "generate wrote tokens" [ ${#want} -gt ${#prompt} ]
isas=$("$lamina" --version | sed -n 's/^kernels: .*(built: \(.*\))$/\1/p')
for isa in $isas; do
    "$lamina" "$m" --isa "$isa" -n 1 -i x > /dev/null 2>&1 || continue # not on this CPU
    for t in 1 2; do
        got=$("$lamina" "$m" --isa "$isa" --threads $t -n 28 -s 1 -i "$prompt" 2> /dev/null)
        check "generate --isa $isa --threads $t" [ "$got" = "$want" ]
    done
done
got=$("$lamina" "$m" --no-weights-cache -n 28 -s 1 -i "$prompt" 2> /dev/null)
check "generate without the weights image" [ "$got" = "$want" ]
got=$("$lamina" "$m" --kv-type f16 -n 28 -s 1 -t 0 -i "$prompt" 2> /dev/null)
check "generate with an f16 KV cache" [ "${got:0:${#prompt}}" = "$prompt" ]

# lamina tokenize: BOS, then the ids; a BPE round trip is tokenizer.bpe_*'s
ids=$("$lamina" tokenize -z "$m" "Hello 世界")
check "tokenize (ids $ids)" [ "$ids" = "128000 9906 127365" ]

# chat through the llama3 template: an answer, ending at <|eot_id|> or -n
out=$(printf 'Hi there\nAnd again\n' |
    "$lamina" "$m" -m chat --chat-template llama3 -n 200 -s 3 2> "$work/chat.err") || true
# (random weights seldom say <|eot_id|>: a context that fills is a fine end)
check "chat answers ($(head -c 200 "$work/chat.err"))" grep -q '^Assistant: .' <<< "$out"

# lamina batch: the CLI's text for the same prompt, seed and length (-n 28
# positions: the prompt's tokens with BOS, then 28 - n + 1 sampled)
n_prompt=$("$lamina" tokenize -z "$m" "$prompt" | wc -w)
max_tokens=$((29 - n_prompt))
printf '{"prompt":"%s","echo":true,"max_tokens":%d,"seed":1}\n' "$prompt" $max_tokens \
    > "$work/in.jsonl"
printf '{"messages":[{"role":"user","content":"%s"}],"max_tokens":16,"seed":2}\n' "$prompt" \
    >> "$work/in.jsonl"
# a byte that starts no character (forced by logit_bias): the record is
# still UTF-8, with U+FFFD for it (the CLI would print the byte)
byte=$("$lamina" tokenize -z "$m" "$(printf '\xff')" | awk '{print $NF}')
printf '{"prompt":"Hi","max_tokens":3,"seed":1,"logit_bias":{"%s":100}}\n' "$byte" >> "$work/in.jsonl"
"$lamina" batch "$m" "$work/in.jsonl" -o "$work/out.jsonl" 2> "$work/batch.err"
check "batch: a lone byte is U+FFFD in UTF-8 JSON" "$py" -c 'import sys
line = open(sys.argv[1], "rb").read().split(b"\n")[2]
import json; r = json.loads(line.decode("utf-8"))
sys.exit(r["text"] != "\ufffd" * 3)' "$work/out.jsonl"
batch_text=$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["text"])' \
    "$work/out.jsonl")
check "batch equals the CLI" [ "$batch_text" = "$want" ]
check "batch chat line" "$py" -c 'import json,sys
r = [json.loads(l) for l in open(sys.argv[1])][1]
sys.exit(r["error"] is not None or r["finish_reason"] not in ("stop", "length"))' "$work/out.jsonl"

# lamina serve: completions equal the CLI's text; chat and /tokenize answer
"$lamina" serve "$m" --port 0 2> "$work/serve.log" &
pid=$!
trap 'kill $pid 2> /dev/null || true' EXIT
port=""
# as long as the server is alive: loading is slow under sanitizers
for _ in $(seq 1200); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/serve.log")
    [ -n "$port" ] && break
    kill -0 $pid 2> /dev/null || break
    sleep 0.1
done
check "serve started ($(head -c 300 "$work/serve.log"))" [ -n "$port" ]
check "serve names the format" grep -q "model llama3-bpe.gguf, gguf," "$work/serve.log"
if [ -n "$port" ]; then
    check "serve: completions, chat, tokenize" "$py" - "$port" "$prompt" "$want" $max_tokens << 'EOF'
import json, sys, urllib.request
port, prompt, want, max_tokens = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())
c = post("/v1/completions", {"prompt": prompt, "echo": True, "max_tokens": max_tokens, "seed": 1})
ok = c["choices"][0]["text"] == want
if not ok: print("completions:", repr(c["choices"][0]["text"]), "want", repr(want))
ch = post("/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}],
                                   "max_tokens": 16, "seed": 2})
ok &= ch["choices"][0]["finish_reason"] in ("stop", "length")
t = post("/tokenize", {"content": "Hello 世界"})
ok &= t["tokens"][-2:] == [9906, 127365]
if not ok: print("tokenize:", t)
sys.exit(0 if ok else 1)
EOF
fi
kill $pid 2> /dev/null || true
wait $pid 2> /dev/null || true
trap - EXIT

echo "llama3 end to end: $passes passed, $fails failed"
[ $fails = 0 ]
