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
    check_quant.py llamacpp QUANT_TOOL LLAMACPP_SRC WORK LAMINA DATA LLAMACPP_BIN
        (compat) a random F32 model (lamina convert; dim 256, hidden 640, so
        ffn_down's rows are not whole super-blocks) quantized by llama-quantize
        --pure to each type: every block tensor's values from lamina equal
        gguf-py's bit for bit, and lamina's quantizer, run on the same F32
        weights, has an RMS error (printed per type, with the number of blocks
        that differ from llama-quantize's) no larger than llama-quantize's
        (lamina computes ggml's reference quantizers: today every block is
        byte-equal).
    check_quant.py mixture QUANT_TOOL LLAMACPP_SRC WORK LAMINA DATA LLAMACPP_BIN
        (compat) `lamina quantize --type T` for every T, of the demo model
        (kjv1m: tied, rows of 64 and 172... not whole super-blocks) and of an
        untied random 8-layer model (dim 256, hidden 640): the same file as
        llama-quantize makes of lamina's F32 conversion, tensor for tensor
        (names, types: the mixture and its fallbacks, and blocks byte for
        byte), metadata keys and general.file_type; likewise from that F32
        GGUF as lamina's input, and Q4_K_M from F16 and BF16 GGUF input;
        gguf-py reads every tensor (quants.dequantize); llama-simple loads
        and runs lamina's files.
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


def write_v1(path, cfg, seed):
    """An untied v1 checkpoint of random weights (export.py's version 1)."""
    import struct
    dim, hidden, L, heads, kv_heads, vocab, seq = cfg
    kv_dim = dim * kv_heads // heads
    n = 2 * L * dim + dim + 2 * vocab * dim + L * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim)
    w = (np.random.default_rng(seed).standard_normal(n) * 0.05).astype(np.float32)
    head = struct.pack("<Ii7iB", 0x616B3432, 1, *cfg, 0)
    with open(path, "wb") as f:
        f.write(head + bytes(256 - len(head)) + w.tobytes())


def llamacpp(rng):
    import gguf
    lamina, data, bin_dir = sys.argv[5:8]
    src = os.path.join(WORK, "random.bin")
    write_v1(src, [256, 640, 2, 4, 2, 1024, 64], 5)
    f32 = os.path.join(WORK, "random.f32.gguf")
    subprocess.run([lamina, "convert", src, f32, "--type", "f32", "-z",
                    os.path.join(data, "models", "tok1024-kjv.bin")], check=True)
    weights = {t.name: np.array(t.data, dtype=np.float32).reshape(-1)
               for t in gguf.GGUFReader(f32).tensors}
    for qt in TYPES:
        out = os.path.join(WORK, f"random.{qt.name}.gguf")
        p = subprocess.run([os.path.join(bin_dir, "llama-quantize"), "--pure", f32, out, qt.name],
                           capture_output=True)
        if p.returncode:
            fail(f"llama-quantize {qt.name}: {p.stderr.decode()[-400:]}")
            continue
        err = {}
        for t in gguf.GGUFReader(out).tensors:
            tt = QT(t.tensor_type)
            if tt not in TYPES:
                continue
            raw = np.array(t.data, dtype=np.uint8).reshape(-1)
            want = quants.dequantize(raw.reshape(-1, GGML_QUANT_SIZES[tt][1]), tt).reshape(-1)
            got = run_tool("dequant", tt, raw)
            if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
                fail(f"{qt.name} file: {t.name} ({tt.name}) dequantized differs from gguf-py")
            ours = run_tool("quant", tt, weights[t.name])
            x = weights[t.name].astype(np.float64)
            back = quants.dequantize(ours.reshape(-1, GGML_QUANT_SIZES[tt][1]), tt).reshape(-1)
            e = err.setdefault(tt.name, [0.0, 0.0, 0, 0, 0])
            e[0] += float(np.sum((back - x) ** 2))
            e[1] += float(np.sum((want - x) ** 2))
            e[2] += x.size
            e[3] += int(np.sum(np.any(ours.reshape(-1, GGML_QUANT_SIZES[tt][1]) !=
                                      raw.reshape(-1, GGML_QUANT_SIZES[tt][1]), axis=1)))
            e[4] += raw.size // GGML_QUANT_SIZES[tt][1]
        for name, (ours, theirs, n, differ, blocks) in err.items():
            ro, rt = (ours / n) ** 0.5, (theirs / n) ** 0.5
            print(f"{qt.name} file, {name} tensors: RMS error lamina {ro:.6e} llama-quantize "
                  f"{rt:.6e} ({differ} of {blocks} blocks differ)")
            if ro > rt:
                fail(f"{qt.name} file, {name}: lamina's RMS error {ro} > llama-quantize's {rt}")


MIXES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"]


def same_tensors(ours, theirs, what):
    """Tensor for tensor equal (type and bytes) and the same file_type; a
    summary of the types, or None."""
    import gguf
    a, b = gguf.GGUFReader(ours), gguf.GGUFReader(theirs)
    fa, fb = (int(r.fields["general.file_type"].parts[-1][0]) for r in (a, b))
    if fa != fb:
        fail(f"{what}: general.file_type {fa}, llama-quantize {fb}")
    if sorted(k for k in a.fields) != sorted(k for k in b.fields):
        fail(f"{what}: metadata keys differ from llama-quantize's")
    tb = {t.name: t for t in b.tensors}
    if sorted(t.name for t in a.tensors) != sorted(tb):
        return fail(f"{what}: tensor names differ")
    kinds = {}
    for t in a.tensors:
        u = tb[t.name]
        qa, qb = QT(t.tensor_type), QT(u.tensor_type)
        if qa != qb:
            fail(f"{what}: {t.name} is {qa.name}, llama-quantize's {qb.name}")
            continue
        ra, rb = np.array(t.data).view(np.uint8), np.array(u.data).view(np.uint8)
        if not np.array_equal(ra.reshape(-1), rb.reshape(-1)):
            fail(f"{what}: {t.name} ({qa.name}) bytes differ from llama-quantize's")
        if qa not in (QT.F32, QT.F16, QT.BF16):
            quants.dequantize(ra.reshape(-1, GGML_QUANT_SIZES[qa][1]), qa)
        kinds[qa.name] = kinds.get(qa.name, 0) + 1
    print(f"ok {what}: {len(a.tensors)} tensors equal to llama-quantize's: {kinds}")


def mixture(rng):
    lamina, data, bin_dir = sys.argv[5:8]
    tok = os.path.join(data, "models", "tok1024-kjv.bin")
    rand = os.path.join(WORK, "random8.bin")
    write_v1(rand, [256, 640, 8, 4, 2, 1024, 64], 7)
    for name, src in (("kjv1m", os.path.join(data, "models", "kjv1m.bin")), ("random8", rand)):
        f32 = os.path.join(WORK, f"{name}.f32.gguf")
        subprocess.run([lamina, "convert", src, f32, "--type", "f32", "-z", tok], check=True)
        for mix in MIXES:
            ours = os.path.join(WORK, f"{name}.{mix}.gguf")
            theirs = os.path.join(WORK, f"{name}.{mix}.llama.gguf")
            p = subprocess.run([lamina, "quantize", src, ours, "--type", mix, "-z", tok],
                               capture_output=True, text=True)
            if p.returncode:
                fail(f"lamina quantize {name} {mix}: {p.stderr.strip()}")
                continue
            p = subprocess.run([os.path.join(bin_dir, "llama-quantize"), f32, theirs, mix.upper()],
                               capture_output=True, text=True)
            if p.returncode:
                fail(f"llama-quantize {name} {mix}: {p.stderr[-400:]}")
                continue
            same_tensors(ours, theirs, f"{name} {mix}")
            # the F32 GGUF as input: the same file
            again = os.path.join(WORK, f"{name}.{mix}.from-gguf.gguf")
            p = subprocess.run([lamina, "quantize", f32, again, "--type", mix],
                               capture_output=True, text=True)
            if p.returncode:
                fail(f"lamina quantize {f32} {mix}: {p.stderr.strip()}")
            else:
                same_tensors(again, theirs, f"{name} {mix} from F32 GGUF")
            p = subprocess.run([os.path.join(bin_dir, "llama-simple"), "-m", ours, "-n", "8",
                                "And it came to pass"], capture_output=True, text=True,
                               errors="replace")
            text = p.stdout.removeprefix("<s>").lstrip(" ")
            if p.returncode or not text.startswith("And it came to pass"):
                fail(f"llama-simple {ours}: exit {p.returncode}: {p.stderr[-300:]}")
        # F16 and BF16 GGUF input: as llama-quantize quantizes them
        for ft in ("f16", "bf16"):
            src16 = os.path.join(WORK, f"{name}.{ft}.gguf")
            subprocess.run([lamina, "convert", src, src16, "--type", ft, "-z", tok], check=True)
            ours = os.path.join(WORK, f"{name}.{ft}.q4_k_m.gguf")
            theirs = os.path.join(WORK, f"{name}.{ft}.q4_k_m.llama.gguf")
            p = subprocess.run([lamina, "quantize", src16, ours, "--type", "q4_k_m"],
                               capture_output=True, text=True)
            q = subprocess.run([os.path.join(bin_dir, "llama-quantize"), src16, theirs, "Q4_K_M"],
                               capture_output=True, text=True)
            if p.returncode or q.returncode:
                fail(f"quantize {src16}: {p.stderr.strip()} {q.stderr[-300:]}")
            else:
                same_tensors(ours, theirs, f"{name} q4_k_m from {ft.upper()} GGUF")


rng = np.random.default_rng(23)
{"dequant": dequant, "quantize": quantize, "llamacpp": llamacpp, "mixture": mixture}[MODE](rng)
if failures:
    sys.exit(f"{len(failures)} failure(s)")
print("PASS")
