#!/usr/bin/python3
"""e2e_rope_scaling: Hugging Face rope_scaling "llama3" and "linear" (the
Llama 3.x configs). The seeded tiny-untied fixture (head_dim 16) gets a
rope_scaling whose original context (64) puts its 8 frequencies in all three
llama3 bands (kept, blended, divided by factor); Mote's logits at every
position (decode) and after prefill match the float64 reference
(toolkit/mote_ref.model.rope_inv_freq) within 1e-4 * max|logit|, 32 greedy
tokens match, the IR carries the scaling on every mote.rope, and the
scaled model differs from the unscaled one (so the test can fail).
"""
import json
import os
import shutil
import sys

import numpy as np

import e2e_common as E
from mote_ref import loaders

CASES = {
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    "linear": {"type": "linear", "factor": 4.0},
}


def main():
    work = E.work_dir("rope-scaling")
    base = E.model_path("tiny-untied", work)
    E.need_torch()
    from mote_ref import Reference
    from mote_ref.model import rope_inv_freq
    ids = E.story_ids(120)
    report = []
    plain_bundle = os.path.join(work, "plain.mote")
    E.compile_model(base, plain_bundle)
    for name, rs in CASES.items():
        d = os.path.join(work, "model-" + name)
        if os.path.exists(d):
            shutil.rmtree(d)
        shutil.copytree(base, d)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        cfg["rope_scaling"] = rs
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        c, w = loaders.load(d)
        inv = rope_inv_freq(c).numpy()
        plain = 1.0 / (c.rope_theta ** (np.arange(c.head_dim // 2) * 2 / c.head_dim))
        if name == "llama3":
            kept = int(np.sum(inv == plain))
            scaled = int(np.sum(np.isclose(inv, plain / rs["factor"], rtol=1e-12, atol=0)))
            if not (kept and scaled and kept + scaled < len(inv)):
                E.fail(f"llama3 fixture does not use all three bands: kept {kept}, scaled {scaled}")
        out = os.path.join(work, name + ".mote")
        mlir = os.path.join(work, name + ".mlir")
        E.compile_model(d, out, ["--emit-mlir", mlir])
        with open(mlir) as f:
            text = f.read()
        ropes = [ln for ln in text.splitlines() if "mote.rope" in ln]
        if not ropes or any(f'scaling = "{name}"' not in ln for ln in ropes):
            E.fail(f"{name}: not every mote.rope carries scaling = \"{name}\"")
        ref = Reference(c, w)
        want = ref.logits(ids)
        worst = E.compare_logits(f"{name} step", E.mote_logits(out, ids, c.vocab_size, True, work),
                                 want)
        worst_p = E.compare_logits(f"{name} prefill",
                                   E.mote_logits(out, ids, c.vocab_size, False, work), want[-1:])
        prompt = E.story_ids(5)
        E.compare_tokens(f"{name} greedy", E.mote_generate(out, prompt, 32), ref.generate(prompt, 32))
        unscaled = E.mote_logits(plain_bundle, ids, c.vocab_size, True, work)
        diff = float(np.abs(unscaled - want).max() / np.abs(want).max())
        if diff < 1e-3:
            E.fail(f"{name}: the scaled model's logits equal the unscaled one's ({diff:.2e})")
        report.append(f"rope_scaling {name}: logits max|d|/max|logit| {max(worst, worst_p):.2e} "
                      f"(tol {E.REL_TOL}) over {len(ids)} positions, greedy 32 match; "
                      f"unscaled differs by {diff:.2e}")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
