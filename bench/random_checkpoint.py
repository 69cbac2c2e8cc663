#!/usr/bin/env python3
"""Write a random-weight llama2.c legacy (v0) checkpoint of a standard shape.

v0 is the one format that llama.cpp's llama-convert-llama2c-to-ggml reads, so
compare-llamacpp.sh feeds the same file to both engines. Weights only need to
be finite and of a realistic scale (speed does not depend on their values), so
one random block is repeated to keep this fast in plain Python.
usage: random_checkpoint.py OUT.bin DIM HIDDEN_DIM N_LAYERS N_HEADS N_KV_HEADS VOCAB SEQ_LEN
(the seven config numbers; `lamina bench --list-shapes` prints those of the
shapes lamina knows by name, which is where compare-llamacpp.sh takes them).
"""
import random
import struct
import sys
from array import array

BLOCK = 1 << 16


def write_tensor(f, block, n, start):
    """n floats of the repeated block, starting at a varying offset."""
    start %= BLOCK
    while n > 0:
        take = min(n, BLOCK - start)
        block[start:start + take].tofile(f)
        n -= take
        start = 0


def main():
    try:
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = map(int, sys.argv[2:])
    except ValueError:
        sys.exit("usage: random_checkpoint.py OUT.bin DIM HIDDEN_DIM N_LAYERS N_HEADS "
                 "N_KV_HEADS VOCAB SEQ_LEN")
    kv_dim = dim * kv_heads // heads
    head_size = dim // heads
    rng = random.Random(1)
    scale = dim ** -0.5
    block = array("f", (rng.uniform(-scale, scale) for _ in range(BLOCK)))
    ones = array("f", [1.0] * BLOCK)
    sizes = [  # v0 order; True marks the rmsnorm weights (all ones)
        (vocab * dim, False), (layers * dim, True), (layers * dim * dim, False),
        (layers * dim * kv_dim, False), (layers * dim * kv_dim, False),
        (layers * dim * dim, False), (layers * dim, True),
        (layers * dim * hidden, False), (layers * hidden * dim, False),
        (layers * dim * hidden, False), (dim, True),
        (seq_len * head_size // 2, False), (seq_len * head_size // 2, False),
    ]
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq_len))
        for i, (n, is_norm) in enumerate(sizes):
            write_tensor(f, ones if is_norm else block, n, 7919 * i)


if __name__ == "__main__":
    main()
