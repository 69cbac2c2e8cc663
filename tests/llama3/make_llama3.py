#!/usr/bin/env python3
"""A small random-weight Llama-3-shaped GGUF, written by llama.cpp's gguf-py,
and a float64 numpy reference of its logits computed from the equations (not
from lamina's code), for tests/llama3/test_llama3.c.

usage: make_llama3.py GGUF_PY_DIR OUT_DIR [--vocab N] [--head-size N --heads N --kv-heads N]
       make_llama3.py GGUF_PY_DIR OUT.gguf --spm-vocab VOCAB.gguf

The second form writes only a model (no rope_freqs.weight: add_rope_freqs.py
adds it) whose vocabulary is the tokenizer.* keys of VOCAB.gguf, for the
perplexity comparison with llama.cpp (perplexity_compat.sh).

Writes into OUT_DIR:
  llama3.gguf          GQA 4:1 (8 heads, 2 KV heads), head size 64, theta 500000,
                       Llama 3.1's rope scaling as llama.cpp's converter writes it
                       (rope_freqs.weight from factor 8, low 1, high 4, original
                       context 8192), tied output (no output.weight), an SPM-style
                       vocabulary of fake pieces, seq_len 16384
  llama3.noscale.gguf  the same file without rope_freqs.weight
  plan.txt             the chunks the test feeds: "pos n tok..." per line; the
                       KV cache of positions no chunk covers stays zero
  ref.bin              float64 logits of the last row of every chunk
"""
import argparse
import math
import os
import sys

import numpy as np

from add_rope_freqs import factors as rope_factors  # beside this file

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, HS = 128, 384, 2, 8, 2, 64
THETA, EPS, SEQ = 500000.0, 1e-5, 16384


def llama3_factors():
    """Llama 3.1's per-pair factors (factor 8, low 1, high 4, original context
    8192), as llama.cpp's convert_hf_to_gguf computes them: add_rope_freqs.py's."""
    return rope_factors(THETA, HS, 8.0, 1.0, 4.0, 8192)


def weights(rng, vocab):
    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / math.sqrt(cols)).astype(np.float32)

    q_dim, kv_dim = HEADS * HS, KV_HEADS * HS
    w = dict(emb=(0.25 * rng.standard_normal((vocab, DIM))).astype(np.float16), layers=[])
    for _ in range(LAYERS):
        # large q and k: peaked attention, so that positions (RoPE) matter
        w["layers"].append(dict(
            att_norm=(1 + 0.1 * rng.standard_normal(DIM)).astype(np.float32),
            ffn_norm=(1 + 0.1 * rng.standard_normal(DIM)).astype(np.float32),
            wq=mat(q_dim, DIM, 2.0), wk=mat(kv_dim, DIM, 2.0), wv=mat(kv_dim, DIM),
            wo=mat(DIM, q_dim), w1=mat(HIDDEN, DIM), w2=mat(DIM, HIDDEN), w3=mat(HIDDEN, DIM)))
    w["final_norm"] = (1 + 0.1 * rng.standard_normal(DIM)).astype(np.float32)
    return w


def fake_vocab(g, vocab):
    """An SPM vocabulary of fake pieces: the tokenizer is not what this checks."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    toks += [f"\u2581t{i}" for i in range(vocab - len(toks))]
    types = [2, 3, 3] + [6] * 256 + [1] * (vocab - 259)
    g.add_tokenizer_model("llama")
    g.add_token_list(toks)
    g.add_token_scores([-float(i) for i in range(vocab)])
    g.add_token_types(types)
    g.add_bos_token_id(1)
    g.add_eos_token_id(2)
    g.add_unk_token_id(0)


def copy_vocab(gguf, g, path):
    for f in gguf.GGUFReader(path).fields.values():
        if f.name.startswith("tokenizer."):
            vtype = f.types[0]
            sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            g.add_key_value(f.name, f.contents(), vtype, sub_type=sub)


def write(gguf, path, w, vocab, factors, spm=None):
    g = gguf.GGUFWriter(path, "llama")
    g.add_name("lamina llama3-shaped test model")
    g.add_uint32("llama.context_length", SEQ)
    g.add_uint32("llama.embedding_length", DIM)
    g.add_uint32("llama.block_count", LAYERS)
    g.add_uint32("llama.feed_forward_length", HIDDEN)
    g.add_uint32("llama.rope.dimension_count", HS)
    g.add_uint32("llama.attention.head_count", HEADS)
    g.add_uint32("llama.attention.head_count_kv", KV_HEADS)
    g.add_uint32("llama.attention.key_length", HS)
    g.add_uint32("llama.attention.value_length", HS)
    g.add_float32("llama.rope.freq_base", THETA)
    g.add_float32("llama.attention.layer_norm_rms_epsilon", EPS)
    g.add_uint32("llama.vocab_size", vocab)
    if spm is not None:
        copy_vocab(gguf, g, spm)
    else:
        fake_vocab(g, vocab)
    g.add_tensor("token_embd.weight", w["emb"])
    if factors is not None:
        g.add_tensor("rope_freqs.weight", factors)
    for l, L in enumerate(w["layers"]):
        b = f"blk.{l}."
        for name, key in (("attn_norm", "att_norm"), ("attn_q", "wq"), ("attn_k", "wk"),
                          ("attn_v", "wv"), ("attn_output", "wo"), ("ffn_norm", "ffn_norm"),
                          ("ffn_gate", "w1"), ("ffn_down", "w2"), ("ffn_up", "w3")):
            g.add_tensor(b + name + ".weight", L[key])
    g.add_tensor("output_norm.weight", w["final_norm"])  # no output.weight: tied
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def plan(rng, vocab):
    """Chunks of 8 tokens at positions spread to 8k and past it (the cache
    between them stays zero, which the reference models too)."""
    starts = [0] + [int(p) for p in np.linspace(64, 8180, 23)] + [12000]
    return [(p, rng.integers(0, vocab, 8)) for p in starts]


def rmsnorm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * w


def rope(v, pos, freq):
    """v (rows, heads, HS): pairs (2j, 2j+1) rotated by pos * freq[j]."""
    ang = pos[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    v0, v1 = v[..., 0::2], v[..., 1::2]
    out = np.empty_like(v)
    out[..., 0::2], out[..., 1::2] = v0 * c - v1 * s, v0 * s + v1 * c
    return out


def reference(w, chunks, factors):
    freq = THETA ** (-np.arange(0, HS, 2, dtype=np.float64) / HS) / factors.astype(np.float64)
    emb = w["emb"].astype(np.float64)
    L64 = [{k: v.astype(np.float64) for k, v in L.items()} for L in w["layers"]]
    kc = np.zeros((LAYERS, SEQ, KV_HEADS, HS))
    vc = np.zeros((LAYERS, SEQ, KV_HEADS, HS))
    out = []
    for p0, toks in chunks:
        n = len(toks)
        pos = np.arange(p0, p0 + n, dtype=np.float64)
        x = emb[toks]
        for l, L in enumerate(L64):
            h = rmsnorm(x, L["att_norm"])
            q = rope((h @ L["wq"].T).reshape(n, HEADS, HS), pos, freq)
            kc[l, p0:p0 + n] = rope((h @ L["wk"].T).reshape(n, KV_HEADS, HS), pos, freq)
            vc[l, p0:p0 + n] = (h @ L["wv"].T).reshape(n, KV_HEADS, HS)
            att = np.empty((n, HEADS, HS))
            for hd in range(HEADS):
                kv = hd // (HEADS // KV_HEADS)
                K, V = kc[l, :p0 + n, kv], vc[l, :p0 + n, kv]
                s = q[:, hd] @ K.T / math.sqrt(HS)  # (n, p0 + n)
                s[np.arange(p0, p0 + n)[:, None] < np.arange(p0 + n)[None, :]] = -np.inf
                s = np.exp(s - s.max(axis=1, keepdims=True))
                att[:, hd] = (s / s.sum(axis=1, keepdims=True)) @ V
            x = x + att.reshape(n, -1) @ L["wo"].T
            h = rmsnorm(x, L["ffn_norm"])
            a, b = h @ L["w1"].T, h @ L["w3"].T
            x = x + (a / (1 + np.exp(-a)) * b) @ L["w2"].T
        out.append(rmsnorm(x[-1], w["final_norm"].astype(np.float64)) @ emb.T)
    return np.array(out)


def main():
    global HS, HEADS, KV_HEADS
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf_py")
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=128256)
    ap.add_argument("--spm-vocab")  # a vocabulary GGUF whose tokenizer.* keys to copy
    ap.add_argument("--scaled", action="store_true")  # with --spm-vocab: rope_freqs too
    ap.add_argument("--head-size", type=int, default=HS)
    ap.add_argument("--heads", type=int, default=HEADS)
    ap.add_argument("--kv-heads", type=int, default=KV_HEADS)
    a = ap.parse_args()
    HS, HEADS, KV_HEADS = a.head_size, a.heads, a.kv_heads
    if not os.path.isdir(a.gguf_py):
        sys.exit(f"make_llama3.py: {a.gguf_py} is missing: run tests/llamacpp/source.sh")
    sys.path.insert(0, a.gguf_py)
    import gguf  # llama.cpp's gguf-py, from the llama.cpp source tree

    rng = np.random.default_rng(24)
    if a.spm_vocab:
        n = len(gguf.GGUFReader(a.spm_vocab).fields["tokenizer.ggml.tokens"].data)
        write(gguf, a.out, weights(rng, n), n, llama3_factors() if a.scaled else None,
              a.spm_vocab)
        return
    os.makedirs(a.out, exist_ok=True)
    w = weights(rng, a.vocab)
    factors = llama3_factors()
    write(gguf, os.path.join(a.out, "llama3.gguf"), w, a.vocab, factors)
    write(gguf, os.path.join(a.out, "llama3.noscale.gguf"), w, a.vocab, None)
    chunks = plan(rng, a.vocab)
    with open(os.path.join(a.out, "plan.txt"), "w") as f:
        for p0, toks in chunks:
            f.write(f"{p0} {len(toks)} " + " ".join(str(int(t)) for t in toks) + "\n")
    reference(w, chunks, factors).astype("<f8").tofile(os.path.join(a.out, "ref.bin"))


if __name__ == "__main__":
    main()
