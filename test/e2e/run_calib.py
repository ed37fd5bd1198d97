#!/usr/bin/python3
"""e2e_calib_<model>: calibrated rounding end to end (docs/quantization.md,
"Calibrated rounding").

1. `python3 -m mote_ref calib-stats` on the first tokens of
   tinystories-train-2M.txt: one F32 [K, K] "<param>.hessian" per linear
   weight, symmetric, and one F32 [K] "<param>.absmean" (<= sqrt(H_kk)),
   with the token count in its metadata.
2. `motec compile --calibration STATS --rounding awq|gptq|gptq-act` at w2
   (group 32 and whole row) and w4 g128. From the bundle's codes and scales, read back:
   - the output error sum e H e^T (e = W - What, H from the stats file) of
     every linear weight is <= the weight-only searched f's
     (toolkit/mote_ref/quant.py), GPTQ's <= AWQ's, act-order's <= GPTQ's, and
     equals the report's
     rel_out_error; scales are f-grid scales of their group;
   - the embedding table / tied classifier (not calibrated) is byte-identical
     to the weight-only reference;
   - Mote's logits vs the float64 reference run on the SAME stored weights
     (dequantized from the bundle) within 1e-3 * max|logit|, and 32 greedy
     tokens equal.
3. Bad input, one line naming the file and the field, no bundle left: a
   stats file missing a weight's H, an H of the wrong shape, --rounding
   without --calibration.

  run_calib.py MODEL_NAME
"""
import json
import os
import sys

import numpy as np

import bundle_pb
import e2e_common as E
from mote_ref import loaders, quant, safetensors

TOKENS = 2048
CONFIGS = [("w2", 32, "awq"), ("w2", 32, "gptq"), ("w2", 32, "gptq-act"), ("w2", 0, "gptq"),
           ("w4", 128, "gptq")]


def stats_for(src, work):
    shared = os.environ.get("MOTE_SHARED") or os.path.dirname(E.MODELS)
    data = os.path.join(shared, "data", "tinystories-train-2M.txt")
    if not os.path.isfile(data):
        E.missing(f"data {data}")
    out = os.path.join(work, "stats.safetensors")
    from mote_ref import calib  # its command line, in process
    if calib.main([src, "--data", data, "--tokens", str(TOKENS), "-o", out]) != 0:
        E.fail("calib-stats failed")
    return out


def out_err(W, What, H):
    E_ = W.astype(np.float64) - What
    return float(np.einsum("nk,kj,nj->", E_, H, E_))


def check_bundle(label, path, w, weights, group, rounding, H, report):
    """Returns the dequantized weights dict (what Mote computes with) and the
    per-tensor output errors of the stored codes."""
    man, data = bundle_pb.read(path)
    deq = {}
    errs = {}
    rep = {t["name"]: t for t in report["tensor_bits"]}
    for t in man["tensors"]:
        name = t["name"]
        src = np.asarray(w[name], dtype=np.float32)
        bits = quant.policy_bits(name, weights, 4)
        if src.ndim != 2 or bits == 0:
            deq[name] = src.astype(np.float64)
            continue
        q = t["quant"]
        N, K = src.shape
        f16 = quant.scale_is_f16(bits)
        raw_c = bundle_pb.tensor_bytes(man, data, t)
        raw_s = bundle_pb.tensor_bytes(man, data, t, q["scale_offset"], q["scale_size"])
        codes = np.frombuffer(raw_c, dtype=np.uint8).reshape(N, -1)
        scales = np.frombuffer(raw_s, dtype="<f2" if f16 else "<f4").astype(np.float32)
        g, ng = quant.groups(K, group)
        scales = scales.reshape(N, ng)
        what = quant.dequantize(codes, scales, K, bits, group)
        deq[name] = what
        if not name.startswith("layers."):
            # Not calibrated: identical to the weight-only reference.
            rc, rs, _ = quant.quantize(src, bits, group, "maxabs", None, f16)
            if not (np.array_equal(codes, rc) and np.array_equal(scales, rs)):
                E.fail(f"{label}: {name}: not calibrated, yet differs from the reference")
            if rep[name]["f"] != "maxabs":
                E.fail(f"{label}: {name}: report f {rep[name]['f']!r}")
            continue
        Hn = H[name + ".hessian"].astype(np.float64)
        Hn = 0.5 * (Hn + Hn.T)
        _, _, w_search = quant.quantize(src, bits, group, "search", None, f16)
        e_cal, e_search = out_err(src, what, Hn), out_err(src, w_search, Hn)
        energy = float(np.einsum("nk,kj,nj->", src.astype(np.float64), Hn, src.astype(np.float64)))
        if e_cal > e_search * (1 + 1e-9):
            E.fail(f"{label}: {name}: output error {e_cal:.6g} > weight-only search {e_search:.6g}")
        r = rep[name]
        if r["f"] != rounding:
            E.fail(f"{label}: {name}: report f {r['f']!r}, expected {rounding!r}")
        if not np.isclose(r["rel_out_error"], e_cal / energy, rtol=1e-6, atol=0):
            E.fail(f"{label}: {name}: report rel_out_error {r['rel_out_error']} != {e_cal / energy}")
        if not np.isclose(r["rel_out_error_search"], e_search / energy, rtol=1e-6, atol=0):
            E.fail(f"{label}: {name}: report rel_out_error_search {r['rel_out_error_search']} "
                   f"!= {e_search / energy}")
        # Scales: each is f*max|W_group|/qmax for an f on the 0.50..1.00 grid.
        Wp = np.zeros((N, ng * g), np.float64)
        Wp[:, :K] = src
        m = np.abs(Wp.reshape(N, ng, g)).max(axis=2)
        grid = np.stack([quant._scale(m, f, bits, f16) for f in quant.F_GRID])
        if not (grid == scales.astype(np.float64)[None]).any(axis=0).all():
            E.fail(f"{label}: {name}: a scale is not on the f grid of its group")
        errs[name] = (e_cal, e_search)
    return deq, errs


def check_errors(src, stats, H, work, report):
    out = os.path.join(work, "bad.mote")

    def expect(label, args, must):
        if os.path.exists(out):
            os.remove(out)
        r = E.run([E.tool("motec"), "compile", src, "-o", out, "-q", "--weights", "w2", *args],
                  check=False)
        err = r.stderr.decode()
        if r.returncode != 1 or err.count("\n") != 1 or os.path.exists(out) or \
                not all(m in err for m in must):
            E.fail(f"bad input ({label}): rc {r.returncode}, stderr {err!r}, wanted {must}")
        report.append(f"bad input ({label}) rejected: {err.strip()}")

    missing = os.path.join(work, "stats-missing.safetensors")
    safetensors.save(missing, {k: v for k, v in H.items() if k != "layers.1.w2.hessian"})
    expect("missing H", ["--calibration", missing, "--rounding", "gptq"],
           [missing, "layers.1.w2.hessian", "missing"])
    shape = os.path.join(work, "stats-shape.safetensors")
    bad = dict(H)
    bad["layers.0.wk.hessian"] = np.eye(3, dtype=np.float32)
    safetensors.save(shape, bad)
    expect("wrong shape", ["--calibration", shape, "--rounding", "awq"],
           [shape, "layers.0.wk.hessian", "shape [3, 3]"])
    expect("no stats", ["--rounding", "gptq"], ["--rounding gptq", "--calibration"])
    expect("stats not there", ["--calibration", os.path.join(work, "nope.safetensors"),
                               "--rounding", "gptq"], ["nope.safetensors"])


def main():
    name = sys.argv[1]
    # f32 activations: the 1e-3 check is about the weights (motec's default
    # for quantized bundles is int8 activations, a larger error of its own).
    os.environ["MOTE_ACTIVATIONS"] = "f32"
    E.need_torch()
    work = E.work_dir("calib-" + name)
    src = E.model_path(name, work)
    cfg, w = loaders.load(src)
    w = {k: np.asarray(v) for k, v in w.items()}
    stats = stats_for(src, work)
    H = safetensors.load(stats)
    lin = [k for k in w if quant.policy_bits(k, "w2", 0) and np.ndim(w[k]) == 2]
    want = sorted([f"{k}.hessian" for k in lin] + [f"{k}.absmean" for k in lin])
    if sorted(H) != want:
        E.fail(f"calib-stats: tensors {sorted(H)[:4]}... != {want[:4]}...")
    # mean |x_k| (for --awq-scale): shape [K], >= 0, and <= sqrt(H_kk) (Jensen).
    for k in lin:
        a, h = H[k + ".absmean"], H[k + ".hessian"].astype(np.float64)
        K = w[k].shape[1]
        if a.shape != (K,) or a.dtype != np.float32 or (a < 0).any() or \
                (a.astype(np.float64) > np.sqrt(np.diag(h)) * (1 + 1e-5) + 1e-12).any():
            E.fail(f"calib-stats: {k}.absmean: shape {a.shape} dtype {a.dtype}, or mean|x| > rms")
    H = {k: v for k, v in H.items() if k.endswith(".hessian")}
    for k, h in H.items():
        K = w[k[:-len(".hessian")]].shape[1]
        if h.shape != (K, K) or h.dtype != np.float32 or not np.array_equal(h, h.T):
            E.fail(f"calib-stats: {k}: shape {h.shape} dtype {h.dtype}, expected symmetric ({K}, {K}) f32")
    meta = safetensors.read_header(stats)[0].get("__metadata__", {})
    if meta.get("format") != "mote-calib-1" or int(meta.get("tokens", 0)) < TOKENS:
        E.fail(f"calib-stats: metadata {meta}")
    report = [f"calib-stats: {len(H)} tensors over {meta['tokens']} tokens"]
    results = {}
    # Whole-row groups cost O(K^2) per candidate f: the small model only.
    configs = CONFIGS if cfg.dim <= 64 else [c for c in CONFIGS if c[1] != 0]
    for weights, group, rounding in configs:
        label = f"{name} {weights} g={group} {rounding}"
        out = os.path.join(work, f"{name}-{weights}-{group}-{rounding}.mote")
        rj = out + ".json"
        E.compile_model(src, out, ["--weights", weights, "--group-size", str(group),
                                   "--calibration", stats, "--rounding", rounding,
                                   "--report-json", rj])
        with open(rj) as f:
            rep = json.load(f)
        deq, errs = check_bundle(label, out, w, weights, group, rounding, H, rep)
        results[(weights, group, rounding)] = errs
        tot_c = sum(v[0] for v in errs.values())
        tot_s = sum(v[1] for v in errs.values())
        msg = (f"{label}: {len(errs)} linears, output error on H {tot_c:.4g} "
               f"(weight-only search {tot_s:.4g}, ratio {tot_c / tot_s:.3f})")
        # Mote vs the float64 reference on the weights the bundle stores.
        from mote_ref import Reference
        ref = Reference(cfg, deq)
        E.REL_TOL = 1e-3
        ids = E.story_ids(min(40, cfg.max_seq_len))
        worst = E.compare_logits(f"{label} step", E.mote_logits(out, ids, cfg.vocab_size, True, work),
                                 ref.logits(ids))
        prompt = E.story_ids(5)
        E.compare_tokens(f"{label} greedy", E.mote_generate(out, prompt, 32), ref.generate(prompt, 32))
        msg += f"; logits vs reference on the stored weights {worst:.2e} (tol 1e-3), greedy 32 match"
        report.append(msg)
    # GPTQ keeps AWQ's scales and never does worse on H, tensor by tensor.
    awq, gptq = results[("w2", 32, "awq")], results[("w2", 32, "gptq")]
    for k in awq:
        if gptq[k][0] > awq[k][0] * (1 + 1e-9):
            E.fail(f"{name} w2 g32: {k}: GPTQ output error {gptq[k][0]:.6g} > AWQ-style {awq[k][0]:.6g}")
    # Act-order keeps the same scales and never does worse than GPTQ on H.
    act = results[("w2", 32, "gptq-act")]
    for k in gptq:
        if act[k][0] > gptq[k][0] * (1 + 1e-9):
            E.fail(f"{name} w2 g32: {k}: GPTQ act-order output error {act[k][0]:.6g} > "
                   f"GPTQ {gptq[k][0]:.6g}")
    report.append(f"{name} w2 g32: output error on H, awq {sum(v[0] for v in awq.values()):.4g}, "
                  f"gptq {sum(v[0] for v in gptq.values()):.4g}, "
                  f"gptq-act {sum(v[0] for v in act.values()):.4g}")
    check_errors(src, stats, H, work, report)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
