"""Copy a GGUF model and add a llama2.c tokenizer.bin's vocabulary to its
metadata (tokenizer.ggml.*, SentencePiece kind "llama"), with llama.cpp's
gguf-py, so a test can run a GGUF model that carries its own vocabulary.
usage: add_vocab.py GGUF_PY IN.gguf TOKENIZER.bin OUT.gguf [CHAT_TEMPLATE_FILE]
(the last: its text as tokenizer.chat_template)"""
import struct
import sys

sys.path.insert(0, sys.argv[1])
import gguf  # noqa: E402

src, tok_path, dst = sys.argv[2:5]
r = gguf.GGUFReader(src)
arch = r.fields["general.architecture"].contents()
w = gguf.GGUFWriter(dst, arch)
for name, f in r.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    sub = f.types[1] if len(f.types) > 1 else None
    w.add_key_value(name, f.contents(), f.types[0], sub)

pieces, scores, types = [], [], []
with open(tok_path, "rb") as t:
    data = t.read()
off = 4
while off + 8 <= len(data):
    score, n = struct.unpack_from("<fi", data, off)
    piece = data[off + 8 : off + 8 + n]
    off += 8 + n
    i = len(pieces)
    pieces.append(piece.replace(b" ", "\u2581".encode()))
    scores.append(score)
    is_byte = len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">")
    types.append(2 if i == 0 else 3 if i < 3 else 6 if is_byte else 1)
w.add_tokenizer_model("llama")
w.add_token_list(pieces)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(True)
if len(sys.argv) > 5:
    with open(sys.argv[5], encoding="utf-8") as f:
        w.add_chat_template(f.read())

for t in r.tensors:
    shape = [int(d) for d in reversed(t.shape.tolist())]
    w.add_tensor(t.name, t.data, raw_shape=shape, raw_dtype=t.tensor_type)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
