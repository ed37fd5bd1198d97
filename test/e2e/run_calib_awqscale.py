#!/usr/bin/python3
"""e2e_calib_awqscale_<model>: AWQ per-channel weight scaling end to end
(motec --awq-scale, docs/quantization.md "AWQ scaling").

1. calib-stats (2,048 tokens, with <param>.absmean), then `motec compile
   --weights w2 --group-size 32 --calibration STATS --rounding gptq-act
   --awq-scale --report-json R`.
2. From the report's per-group s (awq_scale.groups[].s), the scaled model is
   rebuilt in numpy from the ORIGINAL weights (W diag(s) for the scaled
   linears; attn_norm, ffn_norm / s; wv rows and bv / s for wo's s per KV
   head; w3 rows / s for w2's s) and checked:
   - the bundle's f32 tensors (norms, biases, everything not quantized) are
     exactly that rebuild's f32 values; the embedding table / tied
     classifier equals the weight-only reference byte for byte;
   - folding: the float64 reference on the rebuilt (unquantized) scaled
     weights gives the original model's logits (within 1e-5 * max|logit|:
     only the f32 rounding of W*s and norm/s differs);
   - wo is unscaled where a layer owns no K/V or its V is read by KV-shared
     layers; with GQA, s is equal across the query heads of one KV head;
   - every quantized linear: output error on the rescaled H (H / s s^T) of
     the stored codes <= the weight-only search of the same scaled weight;
   - Mote's logits vs the float64 reference on the SAME stored weights
     (dequantized codes + the bundle's f32 tensors) within 1e-3 *
     max|logit| (f32 activations), and 32 greedy tokens equal.
3. A stats file without absmean (older calib-stats) uses sqrt(H_kk)
   ("rms" in the report); --awq-scale with --lora-max-rank, without
   --calibration, or with --weights f32 is refused in one line naming the
   flag, with no bundle left.

  run_calib_awqscale.py MODEL_NAME
"""
import json
import os
import sys

import numpy as np

import bundle_pb
import e2e_common as E
from mote_ref import loaders, quant, safetensors

TOKENS = 2048


def stats_for(src, work):
    shared = os.environ.get("MOTE_SHARED") or os.path.dirname(E.MODELS)
    data = os.path.join(shared, "data", "tinystories-train-2M.txt")
    if not os.path.isfile(data):
        E.missing(f"data {data}")
    out = os.path.join(work, "stats.safetensors")
    from mote_ref import calib
    if calib.main([src, "--data", data, "--tokens", str(TOKENS), "-o", out]) != 0:
        E.fail("calib-stats failed")
    return out


def rebuild(cfg, w, groups):
    """The scaled f32 model from the original weights and the report's s."""
    f32 = {k: np.asarray(v, dtype=np.float32).copy() for k, v in w.items()}
    hd, Hq = cfg.head_dim, cfg.n_heads
    Hkv = cfg.n_kv_heads or Hq
    rep = Hq // Hkv
    scales = {}
    for g in groups:
        s = np.asarray(g["s"], dtype=np.float64)
        site = g["site"]
        p = site.rsplit(".", 1)[0] + "."
        for n in g["linears"]:
            f32[n] = (f32[n].astype(np.float64) * s[None, :]).astype(np.float32)
            scales[n] = s
        kind = site.rsplit(".", 1)[1]
        if kind == "attention_input":
            f32[p + "attn_norm"] = (f32[p + "attn_norm"].astype(np.float64) / s).astype(np.float32)
        elif kind == "ffn_input":
            f32[p + "ffn_norm"] = (f32[p + "ffn_norm"].astype(np.float64) / s).astype(np.float32)
        elif kind == "attention_output":
            sq = s.reshape(Hq, hd)
            for h in range(Hq):  # GQA: one s per (KV head, dim)
                if not np.array_equal(sq[h], sq[(h // rep) * rep]):
                    E.fail(f"{site}: s differs between query heads of KV head {h // rep}")
            sv = sq[::rep].reshape(-1)
            f32[p + "wv"] = (f32[p + "wv"].astype(np.float64) / sv[:, None]).astype(np.float32)
            if p + "bv" in f32:
                f32[p + "bv"] = (f32[p + "bv"].astype(np.float64) / sv).astype(np.float32)
        elif kind == "ffn_hidden":
            f32[p + "w3"] = (f32[p + "w3"].astype(np.float64) / s[:, None]).astype(np.float32)
        else:
            E.fail(f"report: unknown site {site}")
    return f32, scales


def main():
    name = sys.argv[1]
    os.environ["MOTE_ACTIVATIONS"] = "f32"
    E.need_torch()
    from mote_ref import Reference
    work = E.work_dir("calib-awqscale-" + name)
    src = E.model_path(name, work)
    cfg, w = loaders.load(src)
    w = {k: np.asarray(v) for k, v in w.items()}
    stats = stats_for(src, work)
    St = safetensors.load(stats)
    report = []
    out = os.path.join(work, f"{name}-awq.mote")
    rj = out + ".json"
    E.compile_model(src, out, ["--weights", "w2", "--group-size", "32", "--calibration", stats,
                               "--rounding", "gptq-act", "--awq-scale", "--report-json", rj])
    with open(rj) as f:
        rep = json.load(f)
    a = rep.get("awq_scale")
    if not a or a["statistic"] != "absmean" or not a["changes_norm_weights"]:
        E.fail(f"report awq_scale {str(a)[:200]}")
    groups = a["groups"]
    L = cfg.n_layers
    shared = getattr(cfg, "num_kv_shared_layers", 0) or 0
    first = L - shared
    sites = {g["site"] for g in groups}
    for i in range(L):
        owns = i < first and not (shared and i == first - 1)
        if (f"layers.{i}.attention_output" in sites) != owns:
            E.fail(f"layer {i}: wo scaled {not owns}, expected {owns} (shared layers {shared})")
        want = [f"layers.{i}.wq"] + ([f"layers.{i}.wk", f"layers.{i}.wv"] if i < first else [])
        g = next(g for g in groups if g["site"] == f"layers.{i}.attention_input")
        if g["linears"] != want:
            E.fail(f"layer {i}: attention group {g['linears']}, expected {want}")
    for g in groups:
        if g["loss"] > g["loss_unscaled"]:
            E.fail(f"{g['site']}: search loss {g['loss']} > unscaled {g['loss_unscaled']}")
    nscaled = sum(1 for g in groups if g["alpha"] > 0)
    if nscaled == 0:
        E.fail("no group was scaled: the test checks nothing")
    f32, scales = rebuild(cfg, w, groups)
    changed = sorted(k for k in w if not np.array_equal(np.asarray(w[k], np.float32), f32[k]))
    if sorted(a["changed_tensors"]) != changed:
        E.fail(f"changed_tensors {sorted(a['changed_tensors'])[:6]} != {changed[:6]}")

    # Folding: the unquantized scaled model = the original model.
    ids = E.story_ids(min(40, cfg.max_seq_len))
    ref0 = Reference(cfg, {k: v.astype(np.float64) for k, v in w.items()}).logits(ids)
    ref1 = Reference(cfg, {k: v.astype(np.float64) for k, v in f32.items()}).logits(ids)
    fold = float(np.max(np.abs(np.asarray(ref1) - np.asarray(ref0))) /
                 np.max(np.abs(np.asarray(ref0))))
    if not fold < 1e-5:
        E.fail(f"folding: scaled model's logits differ by {fold:.3g} x max|logit|")

    # The bundle: f32 tensors = the rebuild; quantized ones dequantized.
    man, data = bundle_pb.read(out)
    deq = {}
    for t in man["tensors"]:
        n = t["name"]
        bits = quant.policy_bits(n, "w2", 4)
        if f32[n].ndim != 2 or bits == 0:
            got = np.frombuffer(bundle_pb.tensor_bytes(man, data, t), dtype="<f4").reshape(f32[n].shape)
            if not np.array_equal(got, f32[n]):
                E.fail(f"{n}: f32 tensor differs from the rescaled reference "
                       f"(max |d| {np.max(np.abs(got - f32[n])):.3g})")
            deq[n] = got.astype(np.float64)
            continue
        N, K = f32[n].shape
        q = t["quant"]
        f16 = quant.scale_is_f16(bits)
        codes = np.frombuffer(bundle_pb.tensor_bytes(man, data, t), dtype=np.uint8).reshape(N, -1)
        sc = np.frombuffer(bundle_pb.tensor_bytes(man, data, t, q["scale_offset"], q["scale_size"]),
                           dtype="<f2" if f16 else "<f4").astype(np.float32).reshape(N, -1)
        what = quant.dequantize(codes, sc, K, bits, 32)
        deq[n] = what
        if not n.startswith("layers."):
            rc, rs, _ = quant.quantize(f32[n], bits, 32, "maxabs", None, f16)
            if not (np.array_equal(codes, rc) and np.array_equal(sc, rs)):
                E.fail(f"{n}: not calibrated, yet differs from the weight-only reference")
            continue
        H = St[n + ".hessian"].astype(np.float64)
        H = 0.5 * (H + H.T)
        s = scales.get(n)
        if s is not None:
            H = H / np.outer(s, s)
        Ws = f32[n].astype(np.float64)
        _, _, w_search = quant.quantize(f32[n], bits, 32, "search", None, f16)
        e_cal = float(np.einsum("nk,kj,nj->", Ws - what, H, Ws - what))
        e_s = float(np.einsum("nk,kj,nj->", Ws - w_search, H, Ws - w_search))
        if e_cal > e_s * (1 + 1e-5):
            E.fail(f"{n}: output error on the rescaled H {e_cal:.6g} > weight-only search {e_s:.6g}")
    ref = Reference(cfg, deq)
    E.REL_TOL = 1e-3
    worst = E.compare_logits(f"{name} awq-scale step", E.mote_logits(out, ids, cfg.vocab_size, True, work),
                             ref.logits(ids))
    prompt = E.story_ids(5)
    E.compare_tokens(f"{name} awq-scale greedy", E.mote_generate(out, prompt, 32), ref.generate(prompt, 32))
    alphas = [g["alpha"] for g in groups]
    report.append(f"{name} w2 g32 gptq-act --awq-scale: {nscaled}/{len(groups)} groups scaled "
                  f"(alpha {min(alphas):.2f}..{max(alphas):.2f}), {len(changed)} tensors changed; "
                  f"folding {fold:.2e}; logits vs reference on the stored weights {worst:.2e} "
                  f"(tol 1e-3), greedy 32 match")

    # An old stats file (no absmean): sqrt(H_kk).
    old = os.path.join(work, "stats-old.safetensors")
    safetensors.save(old, {k: v for k, v in St.items() if k.endswith(".hessian")})
    out2 = os.path.join(work, f"{name}-awq-rms.mote")
    E.compile_model(src, out2, ["--weights", "w2", "--calibration", old, "--rounding", "gptq",
                                "--awq-scale", "--report-json", out2 + ".json"])
    with open(out2 + ".json") as f:
        if json.load(f)["awq_scale"]["statistic"] != "rms":
            E.fail("stats without absmean: statistic is not rms")
    report.append("stats without absmean: statistic rms")

    bad = os.path.join(work, "bad.mote")
    for label, args, must in [
            ("lora", ["--weights", "w2", "--calibration", stats, "--rounding", "gptq", "--awq-scale",
                      "--lora-max-rank", "8"], ["--awq-scale", "--lora-max-rank"]),
            ("no stats", ["--weights", "w2", "--awq-scale"], ["--awq-scale", "--calibration"]),
            ("f32", ["--calibration", stats, "--rounding", "gptq", "--awq-scale"],
             ["--awq-scale", "--weights"])]:
        if os.path.exists(bad):
            os.remove(bad)
        r = E.run([E.tool("motec"), "compile", src, "-o", bad, "-q", *args], check=False)
        err = r.stderr.decode()
        if r.returncode != 1 or err.count("\n") != 1 or os.path.exists(bad) or \
                not all(m in err for m in must):
            E.fail(f"bad input ({label}): rc {r.returncode}, stderr {err!r}, wanted {must}")
        report.append(f"bad input ({label}) rejected: {err.strip()}")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
