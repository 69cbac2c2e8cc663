#!/usr/bin/env python3
"""Copy a llama GGUF with Llama 3.1's rope scaling added: the tensor
rope_freqs.weight, computed as llama.cpp's convert_hf_to_gguf computes it for
rope_type "llama3" (from a factor, low and high frequency factors and an
original context), with gguf-py reading and writing the files.

usage: add_rope_freqs.py GGUF_PY_DIR IN.gguf OUT.gguf [--factor 8] [--low 1]
                         [--high 4] [--orig 8192]
"""
import argparse
import math
import os
import sys

import numpy as np


def factors(theta, hs, factor, low, high, orig):
    freqs = 1.0 / (theta ** (np.arange(0, hs, 2, dtype=np.float32) / hs))
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < orig / high:
            out.append(1.0)
        elif wavelen > orig / low:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf_py")
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--factor", type=float, default=8.0)
    ap.add_argument("--low", type=float, default=1.0)
    ap.add_argument("--high", type=float, default=4.0)
    ap.add_argument("--orig", type=int, default=8192)
    a = ap.parse_args()
    if not os.path.isdir(a.gguf_py):
        sys.exit(f"add_rope_freqs.py: {a.gguf_py} is missing: run tests/llamacpp/source.sh")
    sys.path.insert(0, a.gguf_py)
    import gguf  # llama.cpp's gguf-py, from the llama.cpp source tree

    r = gguf.GGUFReader(a.src)
    fields = r.fields

    def value(name, default):
        f = fields.get(name)
        return f.contents() if f else default

    heads = value("llama.attention.head_count", 0)
    hs = value("llama.rope.dimension_count", value("llama.embedding_length", 0) // heads)
    theta = value("llama.rope.freq_base", 10000.0)
    w = gguf.GGUFWriter(a.out, "llama")
    for f in fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(f.name, f.contents(), vtype, sub_type=sub)
    for t in r.tensors:
        if t.name == "rope_freqs.weight":
            continue
        shape = [int(d) for d in reversed(t.shape)]
        w.add_tensor(t.name, np.array(t.data), raw_shape=shape, raw_dtype=t.tensor_type)
    w.add_tensor("rope_freqs.weight", factors(theta, hs, a.factor, a.low, a.high, a.orig))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
