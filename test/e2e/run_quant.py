#!/usr/bin/python3
"""e2e_quant_<model>: compile a model with motec --weights w8/w4/w2 (f = maxabs and
search, group 32 and whole row, plus a --weights-policy file) and check the
bundle against toolkit/mote_ref/quant.py, computed from the ORIGINAL weights:

- every quantized tensor: dtype Q<bits>, Tensor.quant per docs/quantization.md,
  codes and scales byte-identical, dequantized weights equal to the reference's
  fake-quantized weights exactly; every f32 tensor byte-identical to the source;
- the default policy (linear weights at --weights, tok_embeddings and the tied
  classifier at 4 bits, norms f32) and the policy file's overrides;
- kernels "<op>_q<bits>_f32" on the ops reading quantized weights, and WEIGHT
  values carrying their tensor's dtype;
- Mote's logits vs the float64 fake-quant reference within 1e-3 * max|logit|
  and identical greedy tokens, with f32 activations (MOTE_ACTIVATIONS=f32:
  the reference does not quantize activations; the int8-activation path has
  its own test, e2e_int8act_*).

  run_quant.py MODEL_NAME
"""
import json
import os
import sys

import numpy as np

import bundle_pb
import e2e_common as E
from mote_ref import loaders, quant

CONFIGS = [("w8", "maxabs", 32), ("w4", "search", 0), ("w4", "maxabs", 128),
           ("w2", "maxabs", 32), ("w2", "search", 0), ("w2", "search", 32)]
OPS = {1: "embedding", 3: "linear", 9: "logits"}
QDT = {2: 16, 4: 17, 8: 18}


def check_bundle(label, path, w, weights, fmode, group, overrides=None, sd="auto"):
    """w may carry QAT "<name>.quant_f" entries; they fix f for that weight."""
    man, data = bundle_pb.read(path)
    by_name = {}
    nq = 0
    kernels = set()
    rel = {}
    if sorted(t["name"] for t in man["tensors"]) != sorted(n for n in w if not n.endswith(".quant_f")):
        E.fail(f"{label}: bundle tensors differ from the model's weights")
    for idx, t in enumerate(man["tensors"]):
        name = t["name"]
        by_name[idx] = t
        src = np.asarray(w[name], dtype=np.float32)
        bits = quant.policy_bits(name, weights, 4, overrides)
        if src.ndim != 2:
            bits = 0
        if bits == 0:
            if t.get("dtype") != 1:
                E.fail(f"{label}: {name}: dtype {t.get('dtype')}, expected f32")
            got = np.frombuffer(bundle_pb.tensor_bytes(man, data, t), dtype="<f4")
            if not np.array_equal(got, src.reshape(-1)):
                E.fail(f"{label}: {name}: f32 data differs from the source")
            continue
        nq += 1
        q = t.get("quant") or E.fail(f"{label}: {name}: no Tensor.quant")
        N, K = src.shape
        want_g = K if group == 0 else group
        f16 = quant.scale_is_f16(bits, sd)  # --scale-dtype: f16 (2) or f32 (1) scales
        expect = {"bits": bits, "group_size": want_g, "grid": "symmetric" if bits == 8 else "balanced",
                  "scale_dtype": 2 if f16 else 1, "layout": "rowmajor-lsb"}
        for k, v in expect.items():
            if q.get(k) != v:
                E.fail(f"{label}: {name}: quant.{k} = {q.get(k)!r}, expected {v!r}")
        if t.get("dtype") != QDT[bits] or t.get("shape") != [N, K]:
            E.fail(f"{label}: {name}: dtype/shape {t.get('dtype')} {t.get('shape')}")
        if q["scale_offset"] % 64 or t["offset"] % 64:
            E.fail(f"{label}: {name}: codes or scales not 64-byte aligned")
        codes, scales, what = quant.quantize(src, bits, group, fmode, w.get(name + ".quant_f"), f16)
        se = 2 if f16 else 4
        if t["size"] != codes.size or q["scale_size"] != scales.size * se:
            E.fail(f"{label}: {name}: sizes {t['size']}/{q['scale_size']} vs {codes.size}/{scales.size * se}")
        got_c = np.frombuffer(bundle_pb.tensor_bytes(man, data, t), dtype=np.uint8).reshape(codes.shape)
        raw_s = bundle_pb.tensor_bytes(man, data, t, q["scale_offset"], q["scale_size"])
        if f16 and raw_s != scales.astype("<f2").tobytes():
            E.fail(f"{label}: {name}: f16 scale bytes differ from the reference's")
        got_s = np.frombuffer(raw_s, dtype="<f2" if f16 else "<f4").astype(np.float32).reshape(scales.shape)
        if not np.array_equal(got_s, scales):
            bad = np.argwhere(got_s != scales)[0]
            E.fail(f"{label}: {name}: scale {tuple(bad)} = {got_s[tuple(bad)]!r}, reference {scales[tuple(bad)]!r}")
        if not np.array_equal(got_c, codes):
            bad = np.argwhere(got_c != codes)[0]
            E.fail(f"{label}: {name}: code byte {tuple(bad)} differs")
        w64 = src.astype(np.float64)
        rel[name] = float(((w64 - what) ** 2).sum() / max((w64 ** 2).sum(), 1e-300))
        deq = quant.dequantize(got_c, got_s, K, bits, group)
        if not np.array_equal(deq, what):
            E.fail(f"{label}: {name}: dequantized bundle weights differ from the fake-quant reference")
    for g in man["graphs"]:
        vals = g["values"]
        for v in vals:
            if v.get("kind") == 2 and v.get("dtype") != man["tensors"][v.get("ref", 0)].get("dtype"):
                E.fail(f"{label}: graph {g['name']}: weight value dtype differs from its tensor")
        for s in g["steps"]:
            op = s.get("op")
            if op not in OPS:
                continue
            wv = vals[s["operands"][1 if op == 3 or op == 9 else 0]]
            dt = man["tensors"][wv.get("ref", 0)].get("dtype")
            bits = {16: 2, 17: 4, 18: 8}.get(dt)
            want = OPS[op] + (f"_q{bits}" if bits else "") + "_f32"
            if bits:
                kernels.add(want)
            if s.get("kernel") != want:
                E.fail(f"{label}: graph {g['name']}: {s.get('loc')}: kernel {s.get('kernel')!r}, expected {want!r}")
    return nq, kernels, rel


def check_runtime(label, bundle, cfg, fake_w, work):
    from mote_ref import Reference
    ref = Reference(cfg, fake_w)
    E.REL_TOL = 1e-3
    ids = E.story_ids(min(40, cfg.max_seq_len))
    worst = E.compare_logits(f"{label} step", E.mote_logits(bundle, ids, cfg.vocab_size, True, work),
                             ref.logits(ids))
    prompt = E.story_ids(5)
    want = ref.generate(prompt, 32)
    E.compare_tokens(f"{label} greedy", E.mote_generate(bundle, prompt, 32), want)
    return worst


def check_qat(work, report):
    """QAT fixture: an HF dir whose safetensors carry "<weight>.quant_f"
    tensors ([N, groups] and [N]); motec must use those f (bundle bit-exact
    vs the reference with the same f), and reject a wrong shape in one line
    naming the file and the tensor."""
    from mote_ref import safetensors
    src = E.model_path("stories260K-hf", work)
    d = os.path.join(work, "qat-fixture")
    os.makedirs(d, exist_ok=True)
    for fn in ("config.json", "tokenizer.model", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, fn)):
            with open(os.path.join(src, fn), "rb") as a, open(os.path.join(d, fn), "wb") as b:
                b.write(a.read())
    hf = {k: np.array(v) for k, v in safetensors.load(os.path.join(src, "model.safetensors")).items()}
    wq = hf["model.layers.0.self_attn.q_proj.weight"]
    emb = hf["model.embed_tokens.weight"]
    rng = np.random.default_rng(5)
    group = 32
    ng = (wq.shape[1] + group - 1) // group
    good = dict(hf)
    good["model.layers.0.self_attn.q_proj.weight.quant_f"] = rng.uniform(0.5, 1.0, (wq.shape[0], ng)).astype(np.float32)
    good["model.embed_tokens.weight.quant_f"] = rng.uniform(0.5, 1.0, (emb.shape[0],)).astype(np.float32)
    safetensors.save(os.path.join(d, "model.safetensors"), good)
    cfg, w = loaders.load(d)
    w = {k: np.asarray(v) for k, v in w.items()}
    if "layers.0.wq.quant_f" not in w or "tok_embeddings.quant_f" not in w:
        E.fail("QAT fixture: mote_ref.loaders did not pick up the quant_f tensors")
    out = os.path.join(work, "qat-w2.mote")
    rj = out + ".json"
    E.compile_model(d, out, ["--weights", "w2", "--group-size", str(group), "--report-json", rj])
    nq, _, _ = check_bundle("QAT fixture", out, w, "w2", "maxabs", group)
    with open(rj) as f:
        fs = {t["name"]: t["f"] for t in json.load(f)["tensor_bits"]}
    if fs.get("layers.0.wq") != "qat" or fs.get("tok_embeddings") != "qat" or fs.get("layers.0.wk") != "maxabs":
        E.fail(f"QAT fixture: report f per tensor wrong: {fs}")
    # Wrong shape: one line naming the safetensors file and the tensor.
    bad = dict(hf)
    bad["model.layers.0.self_attn.q_proj.weight.quant_f"] = np.ones((wq.shape[0] + 1,), np.float32)
    safetensors.save(os.path.join(d, "model.safetensors"), bad)
    r = E.run([E.tool("motec"), "compile", d, "-o", os.path.join(work, "qat-bad.mote"), "-q",
               "--weights", "w2", "--group-size", str(group)], check=False)
    err = r.stderr.decode()
    if (r.returncode != 1 or err.count("\n") != 1 or "model.safetensors" not in err
            or "layers.0.wq.quant_f" not in err or os.path.exists(os.path.join(work, "qat-bad.mote"))):
        E.fail(f"QAT fixture: bad quant_f shape: rc {r.returncode}, stderr {err!r}")
    report.append(f"QAT fixture: {nq} tensors bit-exact (2 with checkpoint f), "
                  f"bad shape rejected: {err.strip()}")


def main():
    os.environ["MOTE_ACTIVATIONS"] = "f32"  # what the fake-quant reference computes
    name = sys.argv[1]
    work = E.work_dir("quant-" + name)
    src = E.model_path(name, work)
    cfg, w = loaders.load(src)
    w = {k: np.asarray(v) for k, v in w.items()}
    report = []
    runs = [(c, None, "auto") for c in CONFIGS]
    # --scale-dtype other than the default (auto: f16 for 2/4-bit, f32 for 8-bit)
    runs += [(("w2", "search", 32), None, "f32"), (("w8", "maxabs", 64), None, "f16")]
    policy = os.path.join(work, "policy.json")
    overrides = {"layers.0.wq": "w8", "layers.1.w2": "f32", "tok_embeddings": "w8"}
    with open(policy, "w") as f:
        json.dump(overrides, f)
    runs.append((("w2", "maxabs", 64), overrides, "auto"))
    for (weights, fmode, group), ov, sd in runs:
        label = f"{name} {weights} f={fmode} g={group} scales={sd}" + (" +policy" if ov else "")
        out = os.path.join(work, f"{name}-{weights}-{fmode}-{group}-{sd}{'-pol' if ov else ''}.mote")
        rj = out + ".json"
        extra = ["--weights", weights, "--f", fmode, "--group-size", str(group), "--report-json", rj,
                 "--scale-dtype", sd]
        if ov:
            extra += ["--weights-policy", policy]
        E.compile_model(src, out, extra)
        nq, kernels, rel = check_bundle(label, out, w, weights, fmode, group, ov, sd)
        with open(rj) as f:
            rep = json.load(f)
        bpw = rep["bits_per_weight"]
        # The report's weight error per tensor is the reference's.
        for t in rep["tensor_bits"]:
            if t["bits"] != 32 and not np.isclose(t["rel_sq_error"], rel[t["name"]], rtol=1e-9, atol=0):
                E.fail(f"{label}: report rel_sq_error of {t['name']} {t['rel_sq_error']} != {rel[t['name']]}")
            if fmode == "search" and t["bits"] != 32 and t["rel_sq_error"] > t["rel_sq_error_maxabs"]:
                E.fail(f"{label}: {t['name']}: searched f worse than maxabs")
        msg = f"{label}: {nq} tensors bit-exact vs reference, {bpw:.3f} bits/weight"
        fake = quant.fake_quantize_weights(w, weights, group, fmode, 4, ov, sd)
        E.need_torch()
        worst = check_runtime(label, out, cfg, fake, work)
        msg += f"; logits max|d|/max|logit| {worst:.2e} (tol 1e-3), greedy 32 match"
        report.append(msg)
    if name == "stories260K":
        check_qat(work, report)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
