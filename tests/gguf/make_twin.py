#!/usr/bin/env python3
"""The "wider twin" of a small Llama GGUF (issue 23, item 5): the same function
in a model whose every matrix row is a multiple of 256 values long, so that
the K-quants (256-value super-blocks) apply to every tensor.

usage: make_twin.py GGUF_PY_DIR IN.gguf OUT.gguf [--dim D] [--hidden H]

IN is an F32 llama GGUF (e.g. `lamina convert models/kjv1m.bin IN.gguf`, or
llama.cpp's llama-convert-llama2c-to-ggml); OUT is F32 too, with every other
key (vocabulary included) copied. Defaults: dim and hidden rounded up to
multiples of 256 (the demo model: dim 128 -> 256, hidden 352 -> 512).

Why the wider model computes the same function:
  - head_size stays (RoPE rotates within a head, so its frequencies depend on
    it): the extra dim makes extra heads, D / head_size of them, and extra KV
    heads keep the GQA group size (heads / kv_heads), so original head h still
    reads original KV head h / group. Their wq/wk/wv rows and wo columns are
    zero: q = k = v = 0, attention averages zero values, wo adds nothing.
  - extra embedding columns are zero, and every matrix that writes the
    residual stream (wo, w2) has zero rows there, so those columns stay 0.
  - extra hidden units: zero w1/w3 rows (silu(0) * 0 = 0), zero w2 columns.
  - RMSNorm divides by sqrt(mean(x^2) + eps) over the WIDER dim: with the
    extra columns zero, mean_D = mean_d * d / D. Scaling eps by d / D gives
    sqrt((mean_d + eps) * d / D), i.e. the old divisor times sqrt(d / D), so
    the norm weights are scaled by sqrt(d / D) to give the old output
    (extra entries 0). Only float rounding differs (longer sums, scaled
    weights): perplexity agrees within float noise, not bit for bit.
"""
import argparse
import sys

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("gguf_py")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--dim", type=int)
    p.add_argument("--hidden", type=int)
    a = p.parse_args()
    sys.path.insert(0, a.gguf_py)
    import gguf

    r = gguf.GGUFReader(a.src)
    arch = r.fields["general.architecture"].contents()
    if arch != "llama":
        sys.exit(f"{a.src}: architecture '{arch}', want llama")

    def u32(key):
        f = r.fields.get(f"{arch}.{key}")
        if f is None:
            sys.exit(f"{a.src}: no {arch}.{key}")
        return int(f.contents())

    dim, hidden = u32("embedding_length"), u32("feed_forward_length")
    heads, kv_heads = u32("attention.head_count"), u32("attention.head_count_kv")
    hs = dim // heads
    up = lambda n: (n + 255) // 256 * 256
    D, H = a.dim or up(dim), a.hidden or up(hidden)
    if D < dim or H < hidden or D % 256 or H % 256 or D % hs:
        sys.exit(f"--dim {D} / --hidden {H}: need multiples of 256, at least {dim} / {hidden},"
                 f" dim a multiple of head_size {hs}")
    group = heads // kv_heads
    HEADS = D // hs
    if HEADS % group:
        sys.exit(f"{HEADS} heads cannot keep the GQA group of {group}")
    KV = HEADS // group
    scale = np.float32(np.sqrt(dim / D))

    def widen(w, rows, cols):
        out = np.zeros((rows, cols), dtype=np.float32)
        out[: w.shape[0], : w.shape[1]] = w
        return out

    new_shape = {  # the tensor's numpy shape (rows, cols) in the twin
        "token_embd": (None, D), "output": (None, D),
        "attn_q": (D, D), "attn_k": (KV * hs, D), "attn_v": (KV * hs, D),
        "attn_output": (D, D), "ffn_gate": (H, D), "ffn_up": (H, D), "ffn_down": (D, H),
    }
    w = gguf.GGUFWriter(a.out, arch)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        val = f.contents()
        if key == f"{arch}.embedding_length":
            val = D
        elif key == f"{arch}.feed_forward_length":
            val = H
        elif key == f"{arch}.attention.head_count":
            val = HEADS
        elif key == f"{arch}.attention.head_count_kv":
            val = KV
        elif key == f"{arch}.attention.layer_norm_rms_epsilon":
            val = float(np.float32(val) * np.float32(dim / D))
        elif key == "general.name":
            val = f"{val} (wider twin: dim {D}, hidden {H})"
        elif key in (f"{arch}.attention.key_length", f"{arch}.attention.value_length"):
            pass  # head_size is unchanged
        w.add_key_value(key, val, vtype, sub_type=sub)
    for t in r.tensors:
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            sys.exit(f"{a.src}: {t.name} is {t.tensor_type.name}; the twin is made from F32")
        x = np.asarray(t.data, dtype=np.float32)
        kind = t.name.split(".")[-2]
        if x.ndim == 1:  # the norms
            if not kind.endswith("norm"):
                sys.exit(f"{a.src}: unexpected vector {t.name}")
            y = np.zeros(D, dtype=np.float32)
            y[:dim] = x * scale
        elif kind in new_shape:
            rows, cols = new_shape[kind]
            y = widen(x, rows or x.shape[0], cols)
        else:
            sys.exit(f"{a.src}: unexpected tensor {t.name}")
        w.add_tensor(t.name, y)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{a.out}: dim {dim}->{D}, hidden {hidden}->{H}, heads {heads}->{HEADS},"
          f" kv_heads {kv_heads}->{KV}, head_size {hs}")


if __name__ == "__main__":
    main()
