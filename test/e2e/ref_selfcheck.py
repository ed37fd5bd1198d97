#!/usr/bin/python3
"""e2e_reference_selfcheck: the oracle is checked before it judges Mote.
- stories260K greedy from "Once upon a time" gives PROVENANCE.md's sentence;
- llama2.c v0, v1 and HF forms give the same logits (to 1e-10), and so do
  tinystories-3M and its llama2.c form (interleaved vs rotate-half RoPE);
- incremental (KV-cache) and whole-sequence forwards agree;
- the random-model generator is deterministic per seed, marks its output as
  random, and its bf16 output is its f32 output rounded to bf16.
"""
import filecmp
import json
import os
import sys

import numpy as np

import e2e_common as E

FACT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."


def main():
    E.need_torch()
    import sentencepiece
    from mote_ref import Reference, safetensors
    import gen_random_model as G
    work = E.work_dir("reference-selfcheck")
    m = {k: E.model_path(k, work) for k in ("stories260K", "stories260K-v1", "stories260K-hf",
                                            "tinystories-3M", "tinystories-3M-llama2c")}
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(m["stories260K"], "tok512.model"))
    ref = Reference.from_path(m["stories260K"])
    prompt = [1] + sp.encode("Once upon a time")
    text = sp.decode(prompt + ref.generate(prompt, 40))
    if not text.startswith(FACT):
        E.fail(f"stories260K greedy: {text!r}")

    ids = E.story_ids(40)
    base = ref.logits(ids)
    for k in ("stories260K-v1", "stories260K-hf"):
        d = np.abs(Reference.from_path(m[k]).logits(ids) - base).max()
        if d > 1e-10:
            E.fail(f"{k} vs stories260K: max|d| {d}")
    ref.reset()
    inc = np.concatenate([ref.forward([t]).numpy() for t in ids])
    if np.abs(inc - base).max() > 1e-10:
        E.fail("incremental and whole-sequence forwards differ")
    a = Reference.from_path(m["tinystories-3M"]).logits(ids)
    b = Reference.from_path(m["tinystories-3M-llama2c"]).logits(ids)
    if np.abs(a - b).max() > 1e-10:
        E.fail(f"tinystories-3M vs -llama2c: max|d| {np.abs(a - b).max()}")

    tok = os.path.join(m["stories260K"], "tok512.model")
    outs = [os.path.join(work, n) for n in ("g1", "g2", "g3")]
    G.generate("tiny-untied", outs[0], "f32", 5, tokenizer=tok)
    G.generate("tiny-untied", outs[1], "f32", 5, tokenizer=tok)
    G.generate("tiny-untied", outs[2], "bf16", 5, tokenizer=tok)
    st = [os.path.join(o, "model.safetensors") for o in outs]
    if not filecmp.cmp(st[0], st[1], shallow=False):
        E.fail("generator is not deterministic for a fixed seed")
    cfg = json.load(open(os.path.join(outs[0], "config.json")))
    if cfg.get("_mote_random_weights") is not True or not os.path.exists(os.path.join(outs[0], "README.txt")):
        E.fail("generated model is not marked as random")
    f32 = safetensors.load(st[0])
    b16 = safetensors.load(st[2], to_f32=False)
    for k, v in f32.items():
        if not np.array_equal(safetensors.f32_to_bf16(v), b16[k]):
            E.fail(f"bf16 output of {k} is not the f32 output rounded")
    r = Reference.from_path(outs[0])
    if r.cfg.tied or r.cfg.n_kv_heads == r.cfg.n_heads:
        E.fail("tiny-untied should be untied with GQA")
    print(f"reference selfcheck: {text[:60]!r}...; forms agree; generator deterministic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
