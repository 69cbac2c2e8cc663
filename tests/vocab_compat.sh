#!/usr/bin/env bash
# lamina's token ids equal llama.cpp's llama-tokenize's (special tokens not
# parsed, BOS as the vocabulary asks) on a varied text set: Unicode, digits,
# whitespace runs, byte fallback, invalid UTF-8, special-token names as text.
# Usage: vocab_compat.sh [--utf8] LAMINA LLAMACPP_BIN VOCAB.gguf...   (ctest label compat)
# --utf8 (byte-level BPE vocabularies): texts that are not valid UTF-8 are left
# out, since llama.cpp turns each such byte into U+FFFD (its ids are then
# those of another text) while lamina encodes the byte itself.
set -u
utf8=0
if [ "${1:-}" = --utf8 ]; then
    utf8=1
    shift
fi
lamina=$1 bin=$2
shift 2
tok=$bin/llama-tokenize
if [ ! -x "$tok" ]; then
    echo "FAIL: $tok is missing: build it with tests/llamacpp/build.sh" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# printf %b escapes: each line one text
texts=(
    'Hello world' ' Hello world' 'Hello  world' '   leading and trailing   '
    'tabs\tand\t\tnewlines\n\nend\n' '\n' ' ' '  ' 'a\r\nb'
    '3.14159 2718281828459045 1,000,000 0x1F 12345678901234567890'
    'Äpfel über Straße, naïve café, ØÆÅ' 'Привет, мир! Ελληνικά' 'مرحبا بالعالم' 'שלום'
    '日本語のテキスト、中文文本。한국어' '𠜎𠜱𠝹 rare CJK' 'emoji 🦙🚀👍🏽 and ZWJ 👨‍👩‍👧'
    'control \x01\x02\x7f bytes' 'invalid \xff\xfe utf-8' 'cut \xe2\x96a sequence' 'lone \xc3'
    '<s> not BOS </s> not EOS <unk>' '<0x41> spelled out' '[INST] hi [/INST]'
    '<|im_start|>user\nhi<|im_end|>' '<|endoftext|><|user|>x<|end|>' '▁ already escaped'
    'x=1;if(x>0){return "ok";}' "don't won't y'all I'm"
    "DON'T We'RE it's IT'S" '0 12 123 1234 12345 123456 1234567' 'e\xcc\x81 combining n\xcc\x83'
    '<|begin_of_text|>Hi<|eot_id|>' '<|start_header_id|>user<|end_header_id|>\n\nhello'
    '     five spaces\n\n\n   three newlines' '\xc2\xa0nbsp \xe3\x80\x80 ideographic space'
)
status=0 n=0
for vocab in "$@"; do
    if [ ! -f "$vocab" ]; then
        echo "FAIL: $vocab is missing (tests/llamacpp/source.sh makes llama.cpp's tree)" >&2
        status=1
        continue
    fi
    for t in "${texts[@]}"; do
        printf '%b' "$t" >"$work/text"
        if [ $utf8 = 1 ] && ! iconv -f UTF-8 -t UTF-8 "$work/text" >/dev/null 2>&1; then
            continue
        fi
        want=$("$tok" -m "$vocab" -f "$work/text" --ids --no-escape --no-parse-special \
            --log-disable 2>"$work/err" | tr -d '[],')
        if [ -z "$want" ]; then
            echo "FAIL: llama-tokenize gave nothing for '$t': $(head -c 300 "$work/err")" >&2
            status=1
            continue
        fi
        printf -v text '%b' "$t" # keeps trailing newlines, unlike $(...)
        got=$("$lamina" tokenize -z "$vocab" -- "$text" 2>&1)
        n=$((n + 1))
        if [ "$got" != "$want" ]; then
            echo "FAIL: $(basename "$vocab") '$t': llama.cpp [$want], lamina [$got]" >&2
            status=1
        fi
    done
done
echo "vocab_compat: $n texts compared, status $status"
exit $status
