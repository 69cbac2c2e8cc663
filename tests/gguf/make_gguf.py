#!/usr/bin/env python3
"""GGUF fixtures for lamina's tests, written by llama.cpp's own gguf-py (an
independent writer), from a llama2.c checkpoint (v0 or v1) or from random
weights.

usage: make_gguf.py GGUF_PY_DIR OUT.gguf [options]
  --from CKPT         weights of a llama2.c v0/v1 checkpoint (else --random)
  --random SEED       a random model: --dim --hidden --layers --heads --kv-heads
                      --head-size --vocab --seq
  --type T            f32 | f16 | bf16 | q8_0 for the matrices (norms stay f32),
                      or a ggml block type q4_0 | q4_1 | q5_0 | q5_1 | q4_k | q5_k |
                      q6_k: RANDOM well-formed blocks (random quants, finite half
                      scales that keep activations bounded), whatever --from says
  --mix M             q4_k_m | q5_k_m: llama-quantize's mixture of random blocks
                      (output and attn_v / ffn_down of the "more bits" layers
                      Q6_K, the rest Q4_K / Q5_K) with legacy fallbacks forced on
                      blk.0: attn_k Q5_0 (q4_k_m) or Q5_1 (q5_k_m), ffn_up Q8_0
  --norm-type T       f32 | f16 for the norms
  --untied            write output.weight (a copy of the embedding when the
                      checkpoint shares it)
  --alignment N       general.alignment (default: gguf-py's 32)
  --theta X, --eps X  llama.rope.freq_base, llama.attention.layer_norm_rms_epsilon
  --arch NAME         general.architecture (default llama)
  --dequant OUT.gguf  also write the weights as gguf-py dequantizes them (all F32)
bad files, for the error messages:
  --raw-type NAME:T   write tensor NAME as zero bytes of ggml type T (Q4_K, ...)
  --claim KEY=N       write the u32 key ARCH.KEY as N (a shape that disagrees)
  --drop NAME         leave tensor NAME out
  --rope-freqs LIST   write rope_freqs.weight (Llama 3's per-pair factors) as
                      these comma-separated values (nan, inf allowed)
  --rope-freqs-type T f32 (default) | f16 for it
  --key-f32 KEY=X     write the f32 key ARCH.KEY as X (nan, inf allowed)
  --key-str KEY=S     write the string key ARCH.KEY as S

llama2.c's checkpoints hold Q and K in the interleaved RoPE layout that GGUF
uses too, so the matrices are copied as they are (no permutation).
"""
import argparse
import struct
import sys

import numpy as np


def read_checkpoint(path):
    raw = open(path, "rb").read()
    magic = struct.unpack_from("<I", raw, 0)[0]
    if magic == 0x616B3432:
        version = struct.unpack_from("<i", raw, 4)[0]
        if version != 1:
            sys.exit(f"{path}: only v0 and v1 (fp32) checkpoints")
        cfg = struct.unpack_from("<7i", raw, 8)
        shared = raw[36] == 1
        off = 256
    else:
        cfg = struct.unpack_from("<7i", raw, 0)
        shared = cfg[5] > 0
        cfg = cfg[:5] + (abs(cfg[5]),) + cfg[6:]
        off = 28
        version = 0
    dim, hidden, layers, heads, kv_heads, vocab, seq = cfg
    hs = dim // heads
    kv_dim = kv_heads * hs
    f = np.frombuffer(raw, dtype="<f4", offset=off)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = f[pos : pos + n].reshape(shape)
        pos += n
        return a

    w = {}
    if version == 0:
        w["emb"] = take(vocab, dim)
        w["att_norm"] = take(layers, dim)
        w["wq"], w["wk"] = take(layers, dim, dim), take(layers, kv_dim, dim)
        w["wv"], w["wo"] = take(layers, kv_dim, dim), take(layers, dim, dim)
        w["ffn_norm"] = take(layers, dim)
        w["w1"], w["w2"] = take(layers, hidden, dim), take(layers, dim, hidden)
        w["w3"] = take(layers, hidden, dim)
        w["final_norm"] = take(dim)
        take(seq * hs)  # the two RoPE tables
    else:
        w["att_norm"], w["ffn_norm"] = take(layers, dim), take(layers, dim)
        w["final_norm"] = take(dim)
        w["emb"] = take(vocab, dim)
        w["wq"], w["wk"] = take(layers, dim, dim), take(layers, kv_dim, dim)
        w["wv"], w["wo"] = take(layers, kv_dim, dim), take(layers, dim, dim)
        w["w1"], w["w2"] = take(layers, hidden, dim), take(layers, dim, hidden)
        w["w3"] = take(layers, hidden, dim)
    w["out"] = None if shared else take(vocab, dim)
    c = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab,
             seq=seq, head_size=hs)
    return c, w


def random_model(a):
    rng = np.random.default_rng(a.random)
    hs = a.head_size or a.dim // a.heads
    c = dict(dim=a.dim, hidden=a.hidden, layers=a.layers, heads=a.heads, kv_heads=a.kv_heads,
             vocab=a.vocab, seq=a.seq, head_size=hs)
    q_dim, kv_dim, L = a.heads * hs, a.kv_heads * hs, a.layers

    def r(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    w = dict(emb=r(a.vocab, a.dim), wq=r(L, q_dim, a.dim), wk=r(L, kv_dim, a.dim),
             wv=r(L, kv_dim, a.dim), wo=r(L, a.dim, q_dim), w1=r(L, a.hidden, a.dim),
             w2=r(L, a.dim, a.hidden), w3=r(L, a.hidden, a.dim),
             att_norm=(1 + 0.1 * rng.standard_normal((L, a.dim))).astype(np.float32),
             ffn_norm=(1 + 0.1 * rng.standard_normal((L, a.dim))).astype(np.float32),
             final_norm=(1 + 0.1 * rng.standard_normal(a.dim)).astype(np.float32),
             out=None)
    return c, w


# ggml block types written as random blocks: values per block, bytes per block,
# the byte offsets of the fp16 scale d and of the second half (Q4_1 / Q5_1's m,
# the K types' dmin; None: none), and the typical |scale x quant| of one value
# (d is chosen so that a weight is about 1 / sqrt(cols), as random_model's).
BLOCKS = dict(q4_0=(32, 18, 0, None, 4.0), q4_1=(32, 20, 0, 2, 4.0), q5_0=(32, 22, 0, None, 8.0),
              q5_1=(32, 24, 0, 2, 8.0), q4_k=(256, 144, 0, 2, 32 * 4.0),
              q5_k=(256, 176, 0, 2, 32 * 8.0), q6_k=(256, 210, 208, None, 64 * 16.0))


def random_blocks(rng, kind, rows, cols):
    """Random well-formed blocks of a ggml type: random quant bytes, d (and m /
    dmin) finite halves around 1 / (sqrt(cols) x the typical |scale x quant|)."""
    bv, bb, d_at, m_at, typical = BLOCKS[kind]
    nb = cols // bv
    raw = rng.integers(0, 256, (rows, nb, bb), dtype=np.uint8)
    base = 1.0 / (np.sqrt(cols) * typical)
    d = (base * rng.uniform(0.5, 1.5, (rows, nb))).astype(np.float16)
    raw[:, :, d_at : d_at + 2] = d.view(np.uint8).reshape(rows, nb, 2)
    if m_at is not None:
        if kind in ("q4_1", "q5_1"):  # w = d q + m: centre the values near 0
            m = (-d.astype(np.float32) * (8 if kind == "q4_1" else 16)).astype(np.float16)
        else:  # the K types' dmin (times a 6-bit min): about d
            m = (base * rng.uniform(0.5, 1.5, (rows, nb)) * 4).astype(np.float16)
        raw[:, :, m_at : m_at + 2] = m.view(np.uint8).reshape(rows, nb, 2)
    return raw.reshape(rows, nb * bb)


def more_bits(i, n):
    """llama-quantize's use_more_bits: the layers whose attn_v / ffn_down get Q6_K."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def mix_type(mix, name, n_layers):
    """The type llama-quantize's Q4_K_M / Q5_K_M gives tensor `name` (plus the
    forced legacy fallbacks of this fixture)."""
    base = "q4_k" if mix == "q4_k_m" else "q5_k"
    if name == "output.weight":
        return "q6_k"
    if name == "blk.0.attn_k.weight":
        return "q5_0" if mix == "q4_k_m" else "q5_1"
    if name == "blk.0.ffn_up.weight":
        return "q8_0"
    for part in ("attn_v", "ffn_down"):
        for l in range(n_layers):
            if name == f"blk.{l}.{part}.weight" and more_bits(l, n_layers):
                return "q6_k"
    return base


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gguf_py")
    p.add_argument("out")
    p.add_argument("--from", dest="src")
    p.add_argument("--random", type=int)
    for k, v in dict(dim=64, hidden=96, layers=2, heads=4, kv_heads=2, head_size=0, vocab=1024,
                     seq=64).items():
        p.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    p.add_argument("--type", default="f32", choices=["f32", "f16", "bf16", "q8_0"] + list(BLOCKS))
    p.add_argument("--mix", choices=["q4_k_m", "q5_k_m"])
    p.add_argument("--norm-type", default="f32", choices=["f32", "f16"])
    p.add_argument("--untied", action="store_true")
    p.add_argument("--alignment", type=int)
    p.add_argument("--theta", type=float)
    p.add_argument("--eps", type=float)
    p.add_argument("--arch", default="llama")
    p.add_argument("--dequant")
    p.add_argument("--raw-type", action="append", default=[])
    p.add_argument("--claim", action="append", default=[])
    p.add_argument("--drop", action="append", default=[])
    p.add_argument("--rope-freqs")
    p.add_argument("--rope-freqs-type", default="f32", choices=["f32", "f16"])
    p.add_argument("--key-f32", action="append", default=[])
    p.add_argument("--key-str", action="append", default=[])
    a = p.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf  # llama.cpp's gguf-py, from the llama.cpp source tree
    import logging

    logging.disable(logging.WARNING)  # --claim overwrites keys on purpose

    c, w = read_checkpoint(a.src) if a.src else random_model(a)
    if a.untied and w["out"] is None:
        w["out"] = w["emb"].copy()
    qtypes = dict(f32=gguf.GGMLQuantizationType.F32, f16=gguf.GGMLQuantizationType.F16,
                  bf16=gguf.GGMLQuantizationType.BF16, q8_0=gguf.GGMLQuantizationType.Q8_0)

    def write(path, mtype, ntype):
        g = gguf.GGUFWriter(path, a.arch)
        if a.alignment:
            g.add_custom_alignment(a.alignment)
        arch = a.arch
        g.add_name("lamina test fixture")
        if a.mix and mtype == a.type:  # llama_ftype MOSTLY_Q4_K_M / Q5_K_M
            g.add_file_type(15 if a.mix == "q4_k_m" else 17)
        g.add_uint32(f"{arch}.context_length", c["seq"])
        g.add_uint32(f"{arch}.embedding_length", c["dim"])
        g.add_uint32(f"{arch}.block_count", c["layers"])
        g.add_uint32(f"{arch}.feed_forward_length", c["hidden"])
        g.add_uint32(f"{arch}.rope.dimension_count", c["head_size"])
        g.add_uint32(f"{arch}.attention.head_count", c["heads"])
        g.add_uint32(f"{arch}.attention.head_count_kv", c["kv_heads"])
        if c["head_size"] != c["dim"] // c["heads"]:
            g.add_uint32(f"{arch}.attention.key_length", c["head_size"])
            g.add_uint32(f"{arch}.attention.value_length", c["head_size"])
        for kv in a.claim:
            k, v = kv.split("=")
            g.add_uint32(f"{arch}.{k}", int(v))
        for kv in a.key_f32:
            k, v = kv.split("=")
            g.add_float32(f"{arch}.{k}", float(v))
        for kv in a.key_str:
            k, v = kv.split("=")
            g.add_string(f"{arch}.{k}", v)
        if a.theta is not None:
            g.add_float32(f"{arch}.rope.freq_base", a.theta)
        if a.eps is not None:
            g.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", a.eps)

        raw = dict(r.split(":") for r in a.raw_type)
        brng = np.random.default_rng(1000 + (a.random or 0))  # the blocks' own stream

        def matrix(name, x):
            x = np.ascontiguousarray(x, dtype=np.float32)
            if name in a.drop:
                return
            kind = mix_type(a.mix, name, c["layers"]) if a.mix else mtype
            if kind in BLOCKS and name not in raw:
                t = gguf.GGMLQuantizationType[kind.upper()]
                g.add_tensor(name, random_blocks(brng, kind, x.shape[0], x.shape[1]), raw_dtype=t)
                return
            if kind == "q8_0" and a.mix:
                g.add_tensor(name, gguf.quants.quantize(x, qtypes[kind]), raw_dtype=qtypes[kind])
                return
            if name in raw:
                t = gguf.GGMLQuantizationType[raw[name]]
                blk, size = gguf.GGML_QUANT_SIZES[t]
                g.add_tensor(name, np.zeros((x.shape[0], x.shape[1] // blk * size), np.uint8),
                             raw_dtype=t)
                return
            t = qtypes[mtype]
            if mtype == "f32":
                g.add_tensor(name, x)
            elif mtype == "f16":
                g.add_tensor(name, x.astype(np.float16))
            else:  # bf16 and q8_0 through gguf-py's own quantizers
                g.add_tensor(name, gguf.quants.quantize(x, t), raw_dtype=t)

        def norm(name, x):
            x = np.ascontiguousarray(x, dtype=np.float32)
            if name in a.drop:
                return
            g.add_tensor(name, x.astype(np.float16) if ntype == "f16" else x)

        matrix("token_embd.weight", w["emb"])
        if a.rope_freqs:
            ff = np.array([float(v) for v in a.rope_freqs.split(",")], dtype=np.float32)
            g.add_tensor("rope_freqs.weight", ff.astype(np.float16) if a.rope_freqs_type == "f16" else ff)
        for l in range(c["layers"]):
            b = f"blk.{l}."
            norm(b + "attn_norm.weight", w["att_norm"][l])
            matrix(b + "attn_q.weight", w["wq"][l])
            matrix(b + "attn_k.weight", w["wk"][l])
            matrix(b + "attn_v.weight", w["wv"][l])
            matrix(b + "attn_output.weight", w["wo"][l])
            norm(b + "ffn_norm.weight", w["ffn_norm"][l])
            matrix(b + "ffn_gate.weight", w["w1"][l])
            matrix(b + "ffn_down.weight", w["w2"][l])
            matrix(b + "ffn_up.weight", w["w3"][l])
        norm("output_norm.weight", w["final_norm"])
        if w["out"] is not None:
            matrix("output.weight", w["out"])
        g.write_header_to_file()
        g.write_kv_data_to_file()
        g.write_tensors_to_file()
        g.close()

    write(a.out, a.type, a.norm_type)
    if a.dequant:
        t = qtypes[a.type]
        for k in ("emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3", "out"):
            if w[k] is not None and a.type != "f32":
                x = np.ascontiguousarray(w[k], dtype=np.float32)
                if a.type == "f16":
                    w[k] = x.astype(np.float16).astype(np.float32)
                else:  # gguf-py's dequantizer
                    w[k] = gguf.quants.dequantize(gguf.quants.quantize(x, t), t)
        if a.norm_type == "f16":
            for k in ("att_norm", "ffn_norm", "final_norm"):
                w[k] = w[k].astype(np.float16).astype(np.float32)
        write(a.dequant, "f32", "f32")


if __name__ == "__main__":
    main()
