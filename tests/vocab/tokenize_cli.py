"""llama.cpp's tokenizer cases (models/ggml-vocab-NAME.gguf.inp / .out) through
`lamina tokenize -z VOCAB -- TEXT`, the command a user runs: every case's ids
after what the vocabulary adds to any text (BOS, from an empty text's ids).

Usage: tokenize_cli.py LAMINA VOCAB.gguf INP OUT"""
import subprocess
import sys

lamina, vocab, inp, out = sys.argv[1:5]
MARK = "\n__ggml_vocab_test__\n"


def ids(text):
    r = subprocess.run([lamina, "tokenize", "-z", vocab, "--", text], capture_output=True)
    if r.returncode != 0:
        sys.exit(f"lamina tokenize failed on {text!r}: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode().split()


texts = open(inp, encoding="utf-8", newline="").read().split(MARK)
if texts and texts[-1] == "":
    texts.pop()
want = open(out, encoding="utf-8").read().split("\n")
added = ids("")  # BOS where the vocabulary adds one
fails = 0
for i, text in enumerate(texts):
    got = ids(text)
    if got[: len(added)] != added or got[len(added):] != want[i].split():
        print(f"case {i} {text!r}: lamina {got[len(added):]}, llama.cpp {want[i].split()}")
        fails += 1
print(f"{vocab}: {len(texts) - fails} of {len(texts)} cases through lamina tokenize")
sys.exit(1 if fails or not texts else 0)
