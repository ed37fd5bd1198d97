"""Fake quantization in numpy float64, the reference for Mote's quantizer.

Same storage contract and arithmetic as compiler/quant/Quantize.cpp
(docs/quantization.md): per group of G input weights (G = 0: whole row),
s = float32(f * max|W_group| / q_max), computed in float64 and rounded to
float32 (the stored scale); codes
  2-bit  c = clamp(rint(W/s + 0.5), -1, 2) + 1   value s*(c - 1.5)
  4-bit  c = clamp(rint(W/s + 0.5), -7, 8) + 7   value s*(c - 7.5)
  8-bit  c = clamp(rint(W/s), -127, 127)         value s*c   (int8)
rint = round half to even; s == 0 gives the zero level. f = 1 ("maxabs"),
searched over 0.50..1.00 step 0.01 ("search", minimising the sequential
float64 sum of squared errors; ties -> larger f), or given (QAT).

f16 scales (scale_dtype F16, motec's default for 2/4-bit): s is then rounded
float64 -> float32 -> float16 (round half to even) BEFORE the codes are
computed, and the codes use that rounded s; the f search does the same.

Command line (used by test/unit/test_quant.cpp):
  python3 quant.py pack [--f16] IN.f32 N K BITS G F OUT_CODES OUT_SCALES [FIXED_F.f32]
  (--f16: f16 scales, written as IEEE half)
"""
import sys

import numpy as np

QMAX = {2: 1.5, 4: 7.5, 8: 127.0}
F_GRID = np.arange(50, 101) / 100.0


def row_bytes(K, bits):
    return (K + 31) // 32 * 32 * bits // 8


def groups(K, G):
    g = K if G == 0 else G
    return g, (K + g - 1) // g


def _codes_values(W3, s, bits):
    """W3 (N, ng, g) float64, s (N, ng) float64 (float32 values) ->
    codes (uint8 array as float64) and dequantized float64 values."""
    ss = s[..., None]
    zero = ss == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(zero, 0.0, W3 / np.where(zero, 1.0, ss))
    if bits == 8:
        q = np.clip(np.rint(x), -127, 127)
        q = np.where(zero, 0.0, q)
        return q, ss * q
    lo, hi, mid = (-1.0, 2.0, 1.5) if bits == 2 else (-7.0, 8.0, 7.5)
    q = np.clip(np.rint(x + 0.5), lo, hi)
    q = np.where(zero, 0.0, q)
    c = q - lo
    return c, ss * (c - mid)


def _scale(m, f, bits, f16=False):
    s = np.asarray(f * m / QMAX[bits]).astype(np.float32)
    if f16:
        s = s.astype(np.float16)
    return s.astype(np.float64)


def quantize(W, bits, G=0, fmode="maxabs", fixed_f=None, f16=False):
    """W: (N, K) float32. Returns (codes uint8 (N, row_bytes), scales float32
    (N, ng) (float16 values when f16), W_hat float64 (N, K))."""
    W = np.asarray(W, dtype=np.float32)
    N, K = W.shape
    g, ng = groups(K, G)
    Wp = np.zeros((N, ng * g), dtype=np.float64)
    Wp[:, :K] = W
    mask = np.zeros(ng * g, dtype=bool)
    mask[:K] = True
    W3, M3 = Wp.reshape(N, ng, g), mask.reshape(ng, g)
    m = np.abs(W3).max(axis=2)
    if fixed_f is not None:
        ff = np.asarray(fixed_f, dtype=np.float32).astype(np.float64)
        f = np.broadcast_to(ff.reshape(N, -1), (N, ng)) if ff.size == N else ff.reshape(N, ng)
        s = _scale(m, f, bits, f16)
    elif fmode == "maxabs":
        s = _scale(m, 1.0, bits, f16)
    elif fmode == "search":
        best_err = np.full((N, ng), np.inf)
        s = np.zeros((N, ng))
        for f in F_GRID:
            sf = _scale(m, f, bits, f16)
            _, v = _codes_values(W3, sf, bits)
            e = np.where(M3, W3 - v, 0.0)
            err = np.cumsum(e * e, axis=2)[..., -1]  # sequential, like the C++ loop
            better = err <= best_err
            best_err = np.where(better, err, best_err)
            s = np.where(better, sf, s)
    else:
        raise ValueError(f"unknown f mode {fmode!r}")
    c, v = _codes_values(W3, s, bits)
    c = c.reshape(N, ng * g)[:, :K].astype(np.uint8)
    what = v.reshape(N, ng * g)[:, :K]
    kp = (K + 31) // 32 * 32
    cp = np.zeros((N, kp), dtype=np.uint8)
    cp[:, :K] = c
    per = 8 // bits
    cp = cp.reshape(N, kp // per, per).astype(np.uint32)
    packed = np.zeros((N, kp // per), dtype=np.uint32)
    for j in range(per):
        packed |= cp[:, :, j] << (j * bits)
    return packed.astype(np.uint8), s.astype(np.float32), what


def dequantize(codes, scales, K, bits, G=0):
    """Inverse of the packing: (N, row_bytes) codes + (N, ng) scales -> float64 (N, K)."""
    codes = np.asarray(codes, dtype=np.uint8)
    N = codes.shape[0]
    g, ng = groups(K, G)
    per = 8 // bits
    k = np.arange(K)
    c = (codes[:, k // per].astype(np.uint32) >> ((k % per) * bits)) & ((1 << bits) - 1)
    s = np.asarray(scales, dtype=np.float32).astype(np.float64).reshape(N, ng)[:, k // g]
    if bits == 8:
        return s * c.astype(np.uint8).view(np.int8).astype(np.float64)
    mid = 1.5 if bits == 2 else 7.5
    return s * (c.astype(np.float64) - mid)


# ---------------------------------------------------------------------------
# Model-level policy (mirrors the mote-quantize pass's default policy)
# ---------------------------------------------------------------------------

LINEAR_SUFFIXES = (".wq", ".wk", ".wv", ".wo", ".w1", ".w2", ".w3")


def policy_bits(name, weights="w4", embed=4, overrides=None):
    """Bits for canonical weight `name` (0 = stays f32)."""
    if overrides and name in overrides:
        v = overrides[name]
        return 0 if v == "f32" else int(v[1:])
    if name in ("tok_embeddings", "output"):
        return embed
    if name.startswith("layers.") and name.endswith(LINEAR_SUFFIXES):
        return 0 if weights == "f32" else int(weights[1:])
    return 0


def scale_is_f16(bits, scale_dtype="auto"):
    """motec --scale-dtype: auto = f16 for 2/4-bit, f32 for 8-bit."""
    return scale_dtype == "f16" or (scale_dtype == "auto" and bits != 8)


def fake_quantize_weights(w, weights="w4", group=0, fmode="maxabs", embed=4, overrides=None,
                          scale_dtype="auto"):
    """Returns a copy of the weights dict with every quantized tensor replaced
    by its float64 fake-quantized value (what Mote's kernels compute with)."""
    out = {}
    for name, t in w.items():
        bits = policy_bits(name, weights, embed, overrides)
        a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
        if bits and a.ndim == 2:
            qf = w.get(name + ".quant_f")
            _, _, what = quantize(a.astype(np.float32), bits, group, fmode,
                                  None if qf is None else np.asarray(qf),
                                  scale_is_f16(bits, scale_dtype))
            out[name] = what
        else:
            out[name] = a
    return out


def _main(argv):
    f16 = "--f16" in argv
    argv = [a for a in argv if a != "--f16"]
    if len(argv) < 9 or argv[0] != "pack":
        print(__doc__)
        return 2
    path, N, K, bits, G, fmode, oc, os_ = argv[1], *map(int, argv[2:6]), argv[6], argv[7], argv[8]
    W = np.fromfile(path, dtype=np.float32).reshape(N, K)
    fixed = np.fromfile(argv[9], dtype=np.float32) if len(argv) > 9 else None
    codes, scales, _ = quantize(W, bits, G, fmode, fixed, f16)
    codes.tofile(oc)
    (scales.astype(np.float16) if f16 else scales).tofile(os_)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
