"""`lamina convert` read back by llama.cpp's own GGUF reader (gguf-py).

    check_convert.py LAMINA DATA LLAMACPP_SRC WORK convert
        every fixture converted to every type; metadata, shapes and tensor data
        equal to the source weights (F32 exactly, F16 as numpy's astype(float16),
        BF16 and Q8_0 as gguf-py's quants.quantize), the vocabulary equal to
        sentencepiece's .model (parsed here) and, for Llama 2's 32k vocabulary,
        to llama.cpp's models/ggml-vocab-llama-spm.gguf.
    check_convert.py TEST_GGUF_WRITE DATA LLAMACPP_SRC WORK writer
        the writer alone: test_gguf_write checks its errors and writes a sample
        (every value type, alignment 256, each tensor type, one copied raw)
        that gguf-py must read back value for value.
    check_convert.py LAMINA DATA LLAMACPP_SRC WORK quantized LLAMACPP_BIN
        (compat) llama-quantize makes Q8_0 of lamina's F32 conversion; gguf-py
        reads it back, and its blocks equal lamina's own Q8_0 conversion.
    check_convert.py LAMINA DATA LLAMACPP_SRC WORK run LLAMACPP_BIN
        (compat) llama-simple loads and runs each type of the demo model and of
        an untied random model; on F32 the demo's greedy text starts as lamina's
        (no Q/K permutation: a wrong layout would be gibberish).

Fixtures come from tests/data or are written here (random weights, fixed seed):
the demo model (v0 and v1, GQA, tied classifier), an untied v1 model whose
hidden_dim (96) is not a multiple of 32, and a tied model with Llama 2's 32000
pieces. Any difference fails with a line naming the file, tensor or key.
"""
import os
import struct
import subprocess
import sys

import numpy as np

LAMINA, DATA, SRC, WORK, MODE = sys.argv[1:6]
GGUF_PY = os.path.join(SRC, "gguf-py")
if not os.path.isdir(GGUF_PY):
    sys.exit(f"FAIL: {GGUF_PY} is missing: run tests/llamacpp/source.sh (LAMINA_DEPS)")
sys.path.insert(0, GGUF_PY)
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402

os.makedirs(WORK, exist_ok=True)
failures = []


def check(ok, msg):
    if not ok:
        failures.append(msg)
        print("FAIL:", msg)


# ---- llama2.c checkpoints, read independently of lamina --------------------


def read_checkpoint(path):
    """Config, shared flag and the named weights (row-major f32 arrays)."""
    raw = open(path, "rb").read()
    magic, version = struct.unpack_from("<Ii", raw, 0)
    if magic == 0x616B3432:
        assert version == 1, f"{path}: version {version}"
        cfg = list(struct.unpack_from("<7i", raw, 8))
        shared, off, v0 = raw[36] == 1, 256, False
    else:
        cfg = list(struct.unpack_from("<7i", raw, 0))
        shared, off, v0 = cfg[5] > 0, 28, True
        cfg[5] = abs(cfg[5])
    dim, hidden, L, heads, kv_heads, vocab, seq = cfg
    kv_dim, hs = dim * kv_heads // heads, dim // heads
    f = np.frombuffer(raw, dtype="<f4", offset=off)
    at = [0]

    def take(*shape):
        n = int(np.prod(shape))
        a = f[at[0] : at[0] + n].reshape(shape)
        at[0] += n
        return a

    w = {}
    mats = [("wq", dim, dim), ("wk", kv_dim, dim), ("wv", kv_dim, dim), ("wo", dim, dim)]
    ffn = [("w1", hidden, dim), ("w2", dim, hidden), ("w3", hidden, dim)]
    if v0:  # run.c's order
        w["tok"] = take(vocab, dim)
        w["rms_att"] = take(L, dim)
        for n, r, c in mats:
            w[n] = take(L, r, c)
        w["rms_ffn"] = take(L, dim)
        for n, r, c in ffn:
            w[n] = take(L, r, c)
        w["rms_final"] = take(dim)
        take(seq * hs // 2)
        take(seq * hs // 2)
    else:  # export.py's version 1
        w["rms_att"] = take(L, dim)
        w["rms_ffn"] = take(L, dim)
        w["rms_final"] = take(dim)
        w["tok"] = take(vocab, dim)
        for n, r, c in mats + ffn:
            w[n] = take(L, r, c)
    if not shared:
        w["cls"] = take(vocab, dim)
    assert at[0] * 4 + off == len(raw), f"{path}: size"
    return cfg, shared, w


def write_v1(path, cfg, shared, seed):
    """A v1 checkpoint of random weights (export.py's version 1 layout)."""
    dim, hidden, L, heads, kv_heads, vocab, seq = cfg
    kv_dim = dim * kv_heads // heads
    rng = np.random.default_rng(seed)
    n = 2 * L * dim + dim + vocab * dim + L * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim)
    n += 0 if shared else vocab * dim
    weights = (rng.standard_normal(n) * 0.05).astype(np.float32)
    # the rounding cases, spread over the tensors: f16 and bf16 ties (to even,
    # down and up), f16 subnormals and their ties, the f16 overflow edge, -0
    e = 2.0 ** np.arange(-30, 1)
    special = [1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-8, 1 + 3 * 2**-8, 2**-20, 2**-25,
               3 * 2**-25, 1.5 * 2**-25, 2**-26, 65504, 65519, 65520, 1e5, -0.0, -(1 + 2**-11)]
    special = np.array(special + list(e) + list(-e * 1.00048828125), dtype=np.float32)
    weights[13 + 997 * np.arange(len(special))] = special
    # and 20000 random finite bit patterns (every exponent, subnormals included)
    bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    bits = bits[(bits & 0x7F800000) != 0x7F800000]
    weights[len(weights) - len(bits) :] = bits.view(np.float32)
    head = struct.pack("<Ii7iB", 0x616B3432, 1, *cfg, 1 if shared else 0)
    with open(path, "wb") as f:
        f.write(head + bytes(256 - len(head)))
        f.write(weights.tobytes())


# ---- sentencepiece's ModelProto, parsed here (no sentencepiece module) ------


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i : i + 8], i + 8
        elif wt == 5:
            v, i = b[i : i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i : i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        yield num, v


def sentencepiece_vocab(path):
    """(pieces as bytes, scores as f32 bits, types) of a .model file."""
    pieces, scores, types = [], [], []
    for num, v in fields(open(path, "rb").read()):
        if num != 1:
            continue
        p, s, t = b"", b"\0\0\0\0", 1  # proto defaults: score 0, type NORMAL
        for n2, v2 in fields(v):
            if n2 == 1:
                p = bytes(v2)
            elif n2 == 2:
                s = bytes(v2)
            elif n2 == 3:
                t = v2
        pieces.append(p)
        scores.append(struct.unpack("<I", s)[0])
        types.append(t)
    return pieces, scores, types


# ---- reading GGUF with gguf-py -------------------------------------------


def field_value(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def token_list(r):
    f = r.fields["tokenizer.ggml.tokens"]
    return [bytes(f.parts[i]) for i in f.data]


def f32_bits(values):
    return [int(x) for x in np.asarray(values, dtype=np.float32).view(np.uint32)]


def expected_bytes(src, qtype):
    src = np.ascontiguousarray(src, dtype=np.float32)
    with np.errstate(over="ignore"):  # the overflow cases become infinities
        if qtype == QT.F32:
            return src.tobytes()
        if qtype == QT.F16:
            return src.astype(np.float16).tobytes()
        return gguf.quants.quantize(src, qtype).tobytes()


TYPES = {"f32": (QT.F32, 0), "f16": (QT.F16, 1), "bf16": (QT.BF16, 32), "q8_0": (QT.Q8_0, 7)}


def expected_tensors(cfg, shared, w, qtype):
    """name -> (ne, type, source array) as lamina convert writes them."""
    L = cfg[2]

    def mat(a):
        t = qtype
        if qtype == QT.Q8_0 and a.shape[1] % 32:
            t = QT.F16  # rows that are not whole blocks: F16, as convert_hf_to_gguf
        return [a.shape[1], a.shape[0]], t, a

    out = {"token_embd.weight": mat(w["tok"])}
    names = {"wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output"}
    names.update({"w1": "ffn_gate", "w2": "ffn_down", "w3": "ffn_up"})
    for l in range(L):
        out[f"blk.{l}.attn_norm.weight"] = ([cfg[0]], QT.F32, w["rms_att"][l])
        out[f"blk.{l}.ffn_norm.weight"] = ([cfg[0]], QT.F32, w["rms_ffn"][l])
        for k, n in names.items():
            out[f"blk.{l}.{n}.weight"] = mat(w[k][l])
    out["output_norm.weight"] = ([cfg[0]], QT.F32, w["rms_final"])
    if not shared:
        out["output.weight"] = mat(w["cls"])
    return out


def check_tensors(path, r, expect, qtype_name):
    got = {t.name: t for t in r.tensors}
    check(set(got) == set(expect), f"{path}: tensors {sorted(set(got) ^ set(expect))} differ")
    for name, (ne, qtype, src) in expect.items():
        t = got.get(name)
        if t is None:
            continue
        check(list(int(x) for x in t.shape) == ne, f"{path}: {name} shape {list(t.shape)} != {ne}")
        check(t.tensor_type == qtype, f"{path}: {name} type {t.tensor_type.name} != {qtype.name}")
        data = np.ascontiguousarray(t.data).tobytes()
        check(data == expected_bytes(src, qtype), f"{path}: {name} data differ ({qtype_name})")


def check_metadata(path, r, cfg, name, ftype):
    dim, hidden, L, heads, kv_heads, vocab, seq = cfg
    want = {
        "general.architecture": "llama",
        "general.name": name,
        "general.alignment": 32,
        "general.file_type": ftype,
        "llama.context_length": seq,
        "llama.embedding_length": dim,
        "llama.block_count": L,
        "llama.feed_forward_length": hidden,
        "llama.attention.head_count": heads,
        "llama.attention.head_count_kv": kv_heads,
        "llama.rope.dimension_count": dim // heads,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": float(np.float32(1e-5)),
        "llama.vocab_size": vocab,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.add_bos_token": True,
    }
    for k, v in want.items():
        got = field_value(r, k)
        check(got == v, f"{path}: {k} = {got!r}, want {v!r}")
    check(r.alignment == 32, f"{path}: alignment {r.alignment}")
    types = r.fields["tokenizer.ggml.scores"].types
    check(types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32], f"{path}: scores type")
    types = r.fields["tokenizer.ggml.token_type"].types
    check(types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32], f"{path}: token_type type")


def check_vocab(path, r, model):
    pieces, scores, types = sentencepiece_vocab(model)
    check(token_list(r) == pieces, f"{path}: tokens differ from {model}'s pieces")
    got_scores = f32_bits(field_value(r, "tokenizer.ggml.scores"))
    check(got_scores == scores, f"{path}: scores differ from {model}'s")
    check(field_value(r, "tokenizer.ggml.token_type") == types, f"{path}: token types differ")


def convert(src, tok, out, t):
    p = subprocess.run([LAMINA, "convert", src, out, "--type", t, "-z", tok], capture_output=True)
    check(p.returncode == 0, f"lamina convert {src} --type {t}: {p.stderr.decode().strip()}")
    return p.returncode == 0


def fixtures():
    """(name, checkpoint, tokenizer.bin, sentencepiece .model)."""
    m = os.path.join(DATA, "models")
    kjv_tok = (os.path.join(m, "tok1024-kjv.bin"), os.path.join(m, "tok1024-kjv.model"))
    llama_tok = tuple(os.path.join(DATA, "tokenizers", "llama2-32k." + e) for e in ("bin", "model"))
    untied = os.path.join(WORK, "untied.bin")  # not GQA, hidden 96: Q8_0 falls back to F16
    write_v1(untied, [64, 96, 2, 4, 4, 1024, 64], False, 1)
    big = os.path.join(WORK, "vocab32k.bin")
    write_v1(big, [32, 64, 1, 2, 1, 32000, 32], True, 2)
    return [
        ("kjv1m", os.path.join(m, "kjv1m.bin"), *kjv_tok),
        ("kjv1m.v1", os.path.join(m, "kjv1m.v1.bin"), *kjv_tok),
        ("untied", untied, *kjv_tok),
        ("vocab32k", big, *llama_tok),
    ]


def mode_convert():
    for name, src, tok, model in fixtures():
        cfg, shared, w = read_checkpoint(src)
        for t, (qtype, ftype) in TYPES.items():
            out = os.path.join(WORK, f"{name}.{t}.gguf")
            if not convert(src, tok, out, t):
                continue
            r = gguf.GGUFReader(out)
            check_metadata(out, r, cfg, name, ftype)
            check_vocab(out, r, model)
            check_tensors(out, r, expected_tensors(cfg, shared, w, qtype), t)
            print(f"ok: {out}: {len(r.tensors)} tensors, {len(r.fields)} fields")
    # Llama 2's vocabulary as llama.cpp's own file has it
    spm = os.path.join(SRC, "models", "ggml-vocab-llama-spm.gguf")
    ref = gguf.GGUFReader(spm)
    ours = gguf.GGUFReader(os.path.join(WORK, "vocab32k.f32.gguf"))
    check(token_list(ours) == token_list(ref), f"tokens differ from {spm}'s")
    for k in ("tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
              "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"):
        check(field_value(ours, k) == field_value(ref, k), f"{k} differs from {spm}'s")
    check(f32_bits(field_value(ours, "tokenizer.ggml.scores")) ==
          f32_bits(field_value(ref, "tokenizer.ggml.scores")), f"scores differ from {spm}'s")
    print(f"ok: the 32k vocabulary equals {spm}'s")


def mode_quantized(bin_dir):
    m = os.path.join(DATA, "models")
    src, tok = os.path.join(m, "kjv1m.bin"), os.path.join(m, "tok1024-kjv.bin")
    f32, ours = os.path.join(WORK, "q.f32.gguf"), os.path.join(WORK, "q.q8_0.gguf")
    theirs = os.path.join(WORK, "q.llama-quantize.gguf")
    if not (convert(src, tok, f32, "f32") and convert(src, tok, ours, "q8_0")):
        return
    p = subprocess.run([os.path.join(bin_dir, "llama-quantize"), f32, theirs, "Q8_0"],
                       capture_output=True)
    check(p.returncode == 0, f"llama-quantize: {p.stderr.decode()[-400:]}")
    if p.returncode:
        return
    cfg, shared, w = read_checkpoint(src)
    r = gguf.GGUFReader(theirs)
    check(field_value(r, "general.file_type") == 7, f"{theirs}: file_type")
    check_tensors(theirs, r, expected_tensors(cfg, shared, w, QT.Q8_0), "llama-quantize q8_0")
    a = {t.name: np.ascontiguousarray(t.data).tobytes() for t in gguf.GGUFReader(ours).tensors}
    b = {t.name: np.ascontiguousarray(t.data).tobytes() for t in r.tensors}
    check(a == b, f"{theirs}: tensors differ from lamina's Q8_0 {ours}")
    print(f"ok: {theirs}: {len(b)} tensors, the bytes of lamina's Q8_0 conversion")


def mode_run(bin_dir):
    m = os.path.join(DATA, "models")
    src, tok = os.path.join(m, "kjv1m.bin"), os.path.join(m, "tok1024-kjv.bin")
    prompt = "And it came to pass"
    lamina = subprocess.run([LAMINA, src, "-z", tok, "-t", "0", "-n", "48", "-i", prompt],
                            capture_output=True, text=True, errors="replace")
    check(lamina.returncode == 0, f"lamina greedy run: {lamina.stderr}")
    for t in TYPES:
        out = os.path.join(WORK, f"run.{t}.gguf")
        if not convert(src, tok, out, t):
            continue
        p = subprocess.run([os.path.join(bin_dir, "llama-simple"), "-m", out, "-n", "32", prompt],
                           capture_output=True, text=True, errors="replace")
        check(p.returncode == 0, f"llama-simple {out}: exit {p.returncode}: {p.stderr[-600:]}")
        # llama-simple prints BOS as "<s>" and the first piece's space
        text = p.stdout.removeprefix("<s>").lstrip(" ")
        check(text.startswith(prompt) and len(text) > len(prompt) + 20,
              f"llama-simple {out}: no generated text: {text!r}")
        print(f"llama-simple {t}: {text!r}")
        if t == "f32":
            # two engines, two arithmetic orders: the first 60 characters agree
            n = len(prompt) + 60
            check(text[:n] == lamina.stdout[:n],
                  f"llama-simple {out}: {text[:n]!r} != lamina's {lamina.stdout[:n]!r}")
    # an untied classifier (output.weight), no GQA, and Q8_0's F16 fallback
    # (hidden_dim 96) load and run too
    untied = os.path.join(WORK, "untied.bin")
    write_v1(untied, [64, 96, 2, 4, 4, 1024, 64], False, 1)
    for t in TYPES:
        out = os.path.join(WORK, f"untied.{t}.gguf")
        if not convert(untied, tok, out, t):
            continue
        p = subprocess.run([os.path.join(bin_dir, "llama-simple"), "-m", out, "-n", "8", prompt],
                           capture_output=True, text=True, errors="replace")
        check(p.returncode == 0, f"llama-simple {out}: exit {p.returncode}: {p.stderr[-600:]}")
        text = p.stdout.removeprefix("<s>").lstrip(" ")
        check(text.startswith(prompt), f"llama-simple {out}: {text!r}")
        print(f"llama-simple untied {t}: exit {p.returncode}, {len(text)} characters")


def mode_writer():
    path = os.path.join(WORK, "sample.gguf")
    p = subprocess.run([LAMINA, path], capture_output=True, text=True)
    print(p.stdout + p.stderr, end="")
    check(p.returncode == 0, "test_gguf_write failed")
    if p.returncode:
        return
    r = gguf.GGUFReader(path)
    want = {"general.architecture": "test", "general.alignment": 256, "t.u32": 4000000000,
            "t.f32": float(np.float32(0.1)), "t.bool": True, "t.f32s": [0.5, -2.0],
            "t.i32s": [1, -2, 3]}
    for k, v in want.items():
        check(field_value(r, k) == v, f"{path}: {k} = {field_value(r, k)!r}, want {v!r}")
    f = r.fields["t.strs"]
    check([bytes(f.parts[i]) for i in f.data] == [b"alpha", b"", "\u2581x".encode()], "t.strs")
    check(r.alignment == 256, f"alignment {r.alignment}")
    v = (np.arange(128, dtype=np.float32) - 64) / 8
    m = v.reshape(2, 64)
    want = {"f32": ([64, 2], QT.F32, m.tobytes()), "odd": ([3], QT.F32, v[:3].tobytes()),
            "f16": ([64, 2], QT.F16, m.astype(np.float16).tobytes()),
            "bf16": ([64, 2], QT.BF16, gguf.quants.quantize(m, QT.BF16).tobytes()),
            "q8_0": ([64, 2], QT.Q8_0, gguf.quants.quantize(m, QT.Q8_0).tobytes()),
            "raw": ([4], QT.F16, np.array([0x3C00, 0xC000, 0x0001, 0x7BFF], "<u2").tobytes())}
    got = {t.name: t for t in r.tensors}
    check(list(got) == list(want), f"tensors {list(got)}")
    for name, (ne, qtype, data) in want.items():
        t = got.get(name)
        if t is None:
            continue
        check([int(x) for x in t.shape] == ne and t.tensor_type == qtype, f"{name}: shape, type")
        check(t.data_offset % 256 == 0, f"{name}: offset {t.data_offset} not aligned to 256")
        check(np.ascontiguousarray(t.data).tobytes() == data, f"{name}: data differ")
    last = r.tensors[-1]
    check(os.path.getsize(path) == -(-(last.data_offset + last.n_bytes) // 256) * 256,
          f"{path}: size {os.path.getsize(path)}: the data section is not padded to 256")
    print(f"ok: {path}: {len(r.fields)} fields, {len(r.tensors)} tensors")


def need_tools(bin_dir, *names):
    for n in names:
        if not os.access(os.path.join(bin_dir, n), os.X_OK):
            sys.exit(f"FAIL: {bin_dir}/{n} is missing: run tests/llamacpp/build.sh (LAMINA_DEPS)")


if MODE == "convert":
    mode_convert()
elif MODE == "writer":
    mode_writer()
elif MODE == "quantized":
    need_tools(sys.argv[6], "llama-quantize")
    mode_quantized(sys.argv[6])
elif MODE == "run":
    need_tools(sys.argv[6], "llama-simple")
    mode_run(sys.argv[6])
else:
    sys.exit(f"unknown mode {MODE}")
print(f"{len(failures)} failed" if failures else "all checks passed")
sys.exit(1 if failures else 0)
