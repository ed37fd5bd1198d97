#!/usr/bin/python3
"""e2e_f16_<model>: motec compile --weights f16 (issue 4's f16 width).

- every linear weight and the embedding table (and an untied classifier) is
  stored as IEEE half, bytes equal to numpy's round-to-nearest-even
  float32 -> float16 of the source; norms and biases stay f32, byte-identical;
- the ops reading them name the "<op>_f16_f32" kernels and WEIGHT values carry
  the tensor's dtype (F16 = 2);
- the report says 16 bits per half weight;
- Mote's logits equal a float64 reference run on the half-rounded weights
  within 1e-4 * max|logit| (every position through decode, and the last
  after one prefill), and 32 greedy tokens match.

  run_f16.py MODEL_NAME
"""
import json
import os
import sys

import numpy as np

import bundle_pb
import e2e_common as E
from mote_ref import loaders, quant

OPS = {1: "embedding", 3: "linear", 9: "logits"}


def is_half(name, a):
    return a.ndim == 2 and quant.policy_bits(name, "w8", 8) != 0


def main():
    name = sys.argv[1]
    work = E.work_dir("f16-" + name)
    src = E.model_path(name, work)
    cfg, w = loaders.load(src)
    w = {k: np.asarray(v) for k, v in w.items()}
    out = os.path.join(work, name + "-f16.mote")
    rj = out + ".json"
    E.compile_model(src, out, ["--weights", "f16", "--report-json", rj])
    man, data = bundle_pb.read(out)
    nh = 0
    for t in man["tensors"]:
        a = np.asarray(w[t["name"]], dtype=np.float32)
        raw = bundle_pb.tensor_bytes(man, data, t)
        if is_half(t["name"], a):
            nh += 1
            if t.get("dtype") != 2 or t.get("quant"):
                E.fail(f"{name}: {t['name']}: dtype {t.get('dtype')}, expected f16 (2) without quant")
            if raw != a.astype("<f2").tobytes():
                E.fail(f"{name}: {t['name']}: half bytes differ from numpy's rounding of the source")
        elif t.get("dtype") != 1 or raw != a.astype("<f4").tobytes():
            E.fail(f"{name}: {t['name']}: expected the source's f32 bytes")
    if nh == 0:
        E.fail(f"{name}: no f16 tensor in the bundle")
    for g in man["graphs"]:
        vals = g["values"]
        for s in g["steps"]:
            op = s.get("op")
            if op not in OPS:
                continue
            wv = vals[s["operands"][1 if op in (3, 9) else 0]]
            if wv.get("dtype") != man["tensors"][wv.get("ref", 0)].get("dtype"):
                E.fail(f"{name}: graph {g['name']}: weight value dtype differs from its tensor")
            want = OPS[op] + "_f16_f32"
            if s.get("kernel") != want:
                E.fail(f"{name}: graph {g['name']}: {s.get('loc')}: kernel {s.get('kernel')!r}, "
                       f"expected {want!r}")
    with open(rj) as f:
        rep = json.load(f)
    for t in rep["tensor_bits"]:
        half = is_half(t["name"], np.asarray(w[t["name"]]))
        if half and (t["bits"] != 16 or abs(t["bits_per_weight"] - 16.0) > 1e-9):
            E.fail(f"{name}: report: {t['name']} {t['bits']} bits, {t['bits_per_weight']} bits/weight")
    E.need_torch()
    from mote_ref import Reference
    fake = {k: (v.astype(np.float16).astype(np.float64) if is_half(k, v) else v) for k, v in w.items()}
    ref = Reference(cfg, fake)
    ids = E.story_ids(min(40, cfg.max_seq_len))
    want = ref.logits(ids)
    worst = E.compare_logits(f"{name} f16 step", E.mote_logits(out, ids, cfg.vocab_size, True, work),
                             want)
    # Prefill (the T-row graph, multi-row tiles) yields the last row.
    worst_p = E.compare_logits(f"{name} f16 prefill",
                               E.mote_logits(out, ids, cfg.vocab_size, False, work), want[-1:])
    prompt = E.story_ids(5)
    E.compare_tokens(f"{name} f16 greedy", E.mote_generate(out, prompt, 32), ref.generate(prompt, 32))
    print(f"{name} f16: {nh} half tensors bit-exact, {rep['bits_per_weight']:.3f} bits/weight, "
          f"logits max|d|/max|logit| {max(worst, worst_p):.2e} (tol {E.REL_TOL}), greedy 32 match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
