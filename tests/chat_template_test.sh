#!/bin/bash
# --chat-template in the front ends, on the demo model (a .bin: its template
# is llama2): naming llama2 changes nothing, another template changes the
# prompt, an unknown name or a template outside chat is a usage error, and
# lamina info says which template the model has.
#
# Usage: chat_template_test.sh LAMINA DATA_DIR WORK_DIR
set -u
lamina=$1 data=$2 work=$3
m=$data/models/kjv1m.bin tok=$data/models/tok1024-kjv.bin
mkdir -p "$work"
failures=0
fail() {
    echo "FAILED: $*" >&2
    failures=$((failures + 1))
}

# expect STATUS REGEX -- COMMAND...: the exit status and a one-line stderr
expect() {
    local status=$1 regex=$2
    shift 3
    "$@" >"$work/out" 2>"$work/err" </dev/null
    local got=$?
    [ "$got" = "$status" ] || fail "$*: exit $got, want $status ($(cat "$work/err"))"
    [ "$(wc -l <"$work/err")" = 1 ] && grep -Eq -- "$regex" "$work/err" ||
        fail "$*: stderr '$(cat "$work/err")' does not match '$regex'"
}

# lamina -m chat: llama2 named is the default, byte for byte; chatml differs
chat() { printf 'Who art thou?\nAnd whence?\n' | "$lamina" "$m" -z "$tok" -m chat -y "Be brief." \
    -s 7 -n 200 "$@" 2>"$work/chat.err"; }
default=$(chat) || fail "chat: exit $?"
named=$(chat --chat-template llama2) || fail "chat --chat-template llama2: exit $?"
[ -n "$default" ] && [ "$default" = "$named" ] || fail "llama2 named differs from the default"
chatml=$(chat --chat-template chatml) || fail "chat --chat-template chatml: exit $?"
# (the demo model, never trained on turns, seldom ends an answer: one may fill the context)
grep -q '^Assistant: ' <<<"$chatml" || fail "chatml chat: $chatml"
[ "$chatml" != "$default" ] || fail "chatml gives llama2's chat"
grep -Eq "^lamina: prompt [0-9]+ tokens" "$work/chat.err" || fail "chatml: $(cat "$work/chat.err")"
[ "$(grep -c '^Assistant:' <<<"$default")" = 2 ] || fail "llama2 chat: two answers: $default"

expect 2 "--chat-template: 'llama4' is not one of: llama2 .* zephyr llama3" -- \
    "$lamina" "$m" -z "$tok" -m chat --chat-template llama4
expect 2 "--chat-template: applies to chat" -- "$lamina" "$m" -z "$tok" --chat-template chatml
expect 2 "--chat-template does not apply to info" -- "$lamina" info "$m" --chat-template chatml

# lamina batch: messages through the named template (prompt_tokens tell)
req='{"id":1,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Who art thou?"}],"max_tokens":4,"seed":1}'
tokens() { sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p'; }
b_default=$(printf '%s\n' "$req" | "$lamina" batch "$m" -z "$tok" | tokens)
b_llama2=$(printf '%s\n' "$req" | "$lamina" batch "$m" -z "$tok" --chat-template llama2 | tokens)
b_chatml=$(printf '%s\n' "$req" | "$lamina" batch "$m" -z "$tok" --chat-template chatml | tokens)
b_zephyr=$(printf '%s\n' "$req" | "$lamina" batch "$m" -z "$tok" --chat-template zephyr | tokens)
[ -n "$b_default" ] && [ "$b_default" = "$b_llama2" ] || fail "batch llama2: $b_default / $b_llama2"
[ -n "$b_chatml" ] && [ "$b_chatml" != "$b_default" ] && [ -n "$b_zephyr" ] &&
    [ "$b_zephyr" != "$b_chatml" ] || fail "batch chatml / zephyr: $b_chatml / $b_zephyr"
expect 2 "--chat-template: 'bogus' is not one of: llama2 .* zephyr" -- \
    "$lamina" batch "$m" -z "$tok" --chat-template bogus
expect 2 "--chat-template: 'bogus' is not one of: llama2 .* zephyr" -- \
    "$lamina" serve "$m" -z "$tok" --chat-template bogus

# lamina serve: the chat endpoint through the named template gives batch's prompt
# (HTTP by bash's /dev/tcp: no client needed)
serve_tokens() {
    "$lamina" serve "$m" -z "$tok" --port 0 "$@" 2>"$work/serve.err" &
    local pid=$! port= body
    # as long as the server is alive: loading is slow under sanitizers
    for _ in $(seq 1200); do
        port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/serve.err")
        [ -n "$port" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    body='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Who art thou?"}],"max_tokens":4,"seed":1}'
    if [ -n "$port" ] && exec 3<>"/dev/tcp/127.0.0.1/$port"; then
        printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
            "${#body}" "$body" >&3
        sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p' <&3
        exec 3<&-
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null
}
s_chatml=$(serve_tokens --chat-template chatml)
s_default=$(serve_tokens)
[ -n "$s_chatml" ] && [ "$s_chatml" = "$b_chatml" ] && [ "$s_default" = "$b_default" ] ||
    fail "serve: prompt_tokens $s_default / $s_chatml, batch $b_default / $b_chatml"

"$lamina" info "$m" | grep -q "^chat: *llama2 template" || fail "info: $("$lamina" info "$m")"

if [ "$failures" -gt 0 ]; then
    echo "chat.front_ends: $failures failed" >&2
    exit 1
fi
echo "chat.front_ends: passed"
