"""The block types against llama.cpp's gguf-py (numpy only).

    check_quant.py dequant QUANT_TOOL LLAMACPP_SRC WORK
        random well-formed blocks of Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and
        Q6_K (every bit pattern of the quants; scales random halves and the
        extremes: zero, -0, smallest subnormal, smallest normal, 65504, each
        sign): lamina's dequantized values equal quants.dequantize's bit for
        bit.
    check_quant.py quantize QUANT_TOOL LLAMACPP_SRC WORK
        random weights (normal, heavy-tailed, all-zero, constant and tiny
        blocks) quantized by lamina to Q4_0, Q4_1, Q5_0, Q5_1: byte for byte
        gguf-py's quants.quantize (ggml's reference quantizers); and every
        type's blocks read back by gguf-py give values whose error stays
        within the type's step (each value within one scale step of its
        weight).
Any difference fails with a line naming the type and the first block.
"""
import os
import subprocess
import sys

import numpy as np

MODE, TOOL, SRC, WORK = sys.argv[1:5]
GGUF_PY = os.path.join(SRC, "gguf-py")
if not os.path.isdir(GGUF_PY):
    sys.exit(f"FAIL: {GGUF_PY} is missing: run tests/llamacpp/source.sh (LAMINA_DEPS)")
sys.path.insert(0, GGUF_PY)
from gguf import quants  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf.constants import GGML_QUANT_SIZES  # noqa: E402

os.makedirs(WORK, exist_ok=True)
TYPES = [QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q4_K, QT.Q5_K, QT.Q6_K]
# byte offsets of the fp16 scales in each block
HALVES = {QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2],
          QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208]}
EXTREME = [0x0000, 0x8000, 0x0001, 0x8001, 0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00, 0x03FF]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run_tool(mode, qt, data):
    src = os.path.join(WORK, f"{qt.name}.{mode}.in")
    dst = os.path.join(WORK, f"{qt.name}.{mode}.out")
    data.tofile(src)
    subprocess.run([TOOL, mode, str(int(qt)), src, dst], check=True)
    return np.fromfile(dst, dtype=np.float32 if mode == "dequant" else np.uint8)


def random_halves(rng, n):
    """Finite halves (exponent < 31), a quarter of them extremes."""
    h = rng.integers(0, 0x10000, n, dtype=np.uint32).astype(np.uint16)
    h = np.where((h & 0x7C00) == 0x7C00, h & 0x83FF, h).astype(np.uint16)
    pick = rng.random(n) < 0.25
    h[pick] = rng.choice(EXTREME, int(pick.sum())).astype(np.uint16)
    return h


def dequant(rng):
    for qt in TYPES:
        bs, ts = GGML_QUANT_SIZES[qt]
        n = 4096 if bs == 32 else 1024
        blocks = rng.integers(0, 256, (n, ts), dtype=np.uint32).astype(np.uint8)
        for off in HALVES[qt]:
            blocks[:, off:off + 2] = random_halves(rng, n).view(np.uint8).reshape(n, 2)
        want = quants.dequantize(blocks, qt).reshape(-1)
        got = run_tool("dequant", qt, blocks.reshape(-1))
        if got.shape != want.shape:
            fail(f"{qt.name}: {got.size} values, gguf-py {want.size}")
            continue
        diff = np.nonzero(got.view(np.uint32) != want.view(np.uint32))[0]
        if diff.size:
            i = diff[0]
            fail(f"{qt.name}: {diff.size} values differ, first {i} (block {i // bs}): "
                 f"lamina {got[i]!r} gguf-py {want[i]!r}")
        else:
            print(f"ok {qt.name}: {want.size} values of {n} blocks bit-equal")


def weights(rng, n):
    """n values in blocks of 256 of different kinds."""
    x = rng.standard_normal(n).astype(np.float32) * np.float32(0.02)
    b = x.reshape(-1, 256)
    k = b.shape[0]
    b[0::7] = 0.0                                                    # all zero
    b[1::7] = np.float32(0.375)                                      # constant
    b[2::7] *= np.float32(1e-12)                                     # tiny
    b[3::7] = rng.standard_t(2, b[3::7].shape).astype(np.float32)   # heavy tails
    b[4::7] = np.abs(b[4::7]) + np.float32(1.0)                      # all positive
    b[5::7, ::37] = np.float32(3.0)                                  # outliers
    assert k >= 7
    return x


def quantize(rng):
    x = weights(rng, 256 * 140)
    for qt in TYPES:
        bs, ts = GGML_QUANT_SIZES[qt]
        got = run_tool("quant", qt, x)
        if qt in (QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1):
            want = quants.quantize(x.reshape(-1, 256), qt).reshape(-1)
            diff = np.nonzero(got != want)[0]
            if got.size != want.size or diff.size:
                first = diff[0] // ts if diff.size else -1
                fail(f"{qt.name}: blocks differ from gguf-py's quantize (first block {first})")
                continue
        back = quants.dequantize(got.reshape(-1, ts), qt).reshape(-1)
        # every value within one step of its weight: a step is at most
        # (max - min) / levels of its block, levels 15, 31 or 63 (the K
        # types' 6-bit scales add one more step for rounding the scale);
        # below half's range (2^-14) a scale flushes, so blocks that small
        # may lose their values entirely
        levels = {QT.Q4_0: 15, QT.Q4_1: 15, QT.Q5_0: 31, QT.Q5_1: 31,
                  QT.Q4_K: 15, QT.Q5_K: 31, QT.Q6_K: 63}[qt]
        blk = x.reshape(-1, bs)
        span = np.maximum(blk.max(1), 0) - np.minimum(blk.min(1), 0)
        err = np.abs(back - x).reshape(-1, bs).max(1)
        bad = np.nonzero(~(err <= 2.5 * span / levels + 2.0 ** -14))[0]
        if bad.size:
            fail(f"{qt.name}: block {bad[0]} error {err[bad[0]]} over span {span[bad[0]]}")
        else:
            rms = float(np.sqrt(np.mean((back.astype(np.float64) - x) ** 2)))
            print(f"ok {qt.name}: {got.size} bytes, RMS error {rms:.3e}")


rng = np.random.default_rng(23)
{"dequant": dequant, "quantize": quantize}[MODE](rng)
if failures:
    sys.exit(f"{len(failures)} failure(s)")
print("PASS")
