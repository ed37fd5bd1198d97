#!/usr/bin/python3
"""lora_e2e: LoRA in the compiler and runtime (issue 6) end to end.

For stories260K (llama2.c: interleaved RoPE, so motec adapter must permute the
q/k B rows), tiny-qwen2 (HF: GQA, q/k/v biases under lora_linear) and
tinystories-3M-kvshared (no k/v sites on shared layers, pruned prefill; f32
only):
- two random (seeded) PEFT adapters: rank 8 on all seven modules, and rank 32
  (rsLoRA) on q,v,down of some layers; compiled base: motec compile
  --lora-max-rank 32; adapters: motec adapter;
- mote_lora_run decodes the ids step by step with no adapter, adapter 1 and
  adapter 2 in three sessions at once, 50 set_adapter swaps before every
  step, and prefills them at once; every row's logits vs the float64
  reference on MERGED weights W + s*B*A (1e-4 * max|logit|), with the AVX2
  and with the scalar reference kernels (MOTE_ISA=ref); f16 adapters
  (motec adapter --dtype f16) vs the reference on f16-rounded A/B; bad adapters
  opened halfway fail and the sessions carry on; no allocation per token;
  closing a bound adapter is refused, and so is binding an adapter to a
  session of another model;
- mote-run --adapter: 24 greedy tokens identical to the reference's;
- w4 and w2 bases (motec --weights) vs the fake-quantized reference + adapter
  (1e-3, as the quantized e2e tests);
- bad input: motec adapter rejects an adapter for another base (shapes), a
  missing lora_B, r disagreeing with the tensors, a rank above the compiled
  max, a target the base was not compiled for, an unknown target; the runtime
  rejects another base's adapter (hash), a truncated and a corrupted file.
  Each in one line, exit 1, and no output file left behind.
Adapters are generated under the build tree, never committed. Exit 77 = skipped.
"""
import glob
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2e_common as E  # noqa: E402

SWAPS = 50
# The fake-quantized reference is what the quantized kernels compute with f32
# activations; int8 activations (docs/quant-kernels.md) are another issue's
# approximation, so this test pins f32 whatever the bundle defaults to.
os.environ["MOTE_ACTIVATIONS"] = "f32"


def motec_fails(args, out, want, label):
    """motec exits 1 with one stderr line containing every string of `want`,
    and leaves neither `out` nor a temp file beside it."""
    r = E.run([E.tool("motec"), *args], check=False)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 1 or err.count("\n") != 1 or not all(w in err for w in want):
        E.fail(f"{label}: rc {r.returncode}, stderr {err!r}, expected one line with {want}")
    if os.path.exists(out) or glob.glob(out + ".tmp.*"):
        E.fail(f"{label}: output {out} (or its temp file) left behind")
    return err.strip()


def adapter_file(work, tag, ad_dir, base):
    out = os.path.join(work, tag + ".mote-lora")
    E.run([E.tool("motec"), "adapter", ad_dir, "--base", base, "-o", out, "-q"])
    return out


def references(src, ads, quant=None):
    """Float64 reference models on the checkpoint's own layout: no adapter,
    then one per adapter on MERGED weights W + s*B*A (quant: the base is
    fake-quantized first, as Mote's quantized kernels see it)."""
    from mote_lora.adapter import merged_weights
    from mote_lora.model import load_base
    from mote_ref import Reference, loaders
    cfg, w, scfg = load_base(src, quant=quant)
    if quant:
        from mote_ref import quant as Q
        _, w0 = loaders.load(src)
        none = Q.fake_quantize_weights(w0, **quant)
    else:
        _, none = loaders.load(src)
    refs = [Reference(scfg, none)]
    for ad in ads:
        refs.append(Reference(scfg, merged_weights(ad, cfg, w, source_cfg=scfg)))
    return refs, scfg


def run_lora(work, base, ids, ad_files, bad, vocab, label):
    prefix = os.path.join(work, "out-" + label.replace(" ", "_"))
    cmd = [E.tool("mote_lora_run"), base, E.ids_arg(ids), prefix, str(SWAPS), *ad_files]
    if bad:
        cmd += ["--bad", *bad]
    r = E.run(cmd)
    out = r.stdout.decode().splitlines()
    if f"allocs-during-decode 0" not in out:
        E.fail(f"{label}: allocations during decode/swaps: {out}")
    if sum(1 for l in out if l.startswith("close-refused ")) != len(ad_files):
        E.fail(f"{label}: closing a bound adapter was not refused: {out}")
    if not any(l.startswith("foreign-refused ") and "another model" in l for l in out):
        E.fail(f"{label}: binding an adapter to another model's session was not refused: {out}")
    step, pre = [], []
    for c in range(len(ad_files) + 1):
        step.append(np.fromfile(f"{prefix}.{c}.step.f32", dtype="<f4").reshape(len(ids), vocab))
        pre.append(np.fromfile(f"{prefix}.{c}.prefill.f32", dtype="<f4").reshape(1, vocab))
    return step, pre, [l for l in out if l.startswith("bad-open ")]


def check_model(name, work, report, quantized=True):
    from mote_lora import adapter as A
    from mote_lora import random_adapter
    src = E.model_path(name, work)
    from mote_lora.model import load_base
    base_loaded = load_base(src)
    cfg = base_loaded[0]
    lay2 = list(range(0, cfg.n_layers, 2))
    specs = [("ad1", dict(rank=8, alpha=16, targets="q,k,v,o,gate,up,down", seed=1)),
             ("ad2", dict(rank=32, alpha=8, targets="q,v,down", layers=lay2, rslora=True, seed=2))]
    ads, dirs = [], []
    for tag, kw in specs:
        d = os.path.join(work, f"{name}-{tag}")
        ad = random_adapter.make(src, base=base_loaded, b_std=0.05, **kw)
        A.save(ad, d)
        ads.append(A.load(d))
        dirs.append(d)
    base = E.compile_model(src, os.path.join(work, f"{name}-lora.mote"), ["--lora-max-rank", "32"])
    files = [adapter_file(work, f"{name}-{t}", d, base) for (t, _), d in zip(specs, dirs)]
    refs, scfg = references(src, ads)
    ids = E.story_ids(min(40, scfg.max_seq_len))
    want = [r.logits(ids) for r in refs]
    # Another base's adapter for the runtime checks: the same adapter made for
    # a w4 build of the same model (same sites and shapes, different hash).
    qbase = E.compile_model(src, os.path.join(work, f"{name}-w4-lora.mote"),
                            ["--lora-max-rank", "32", "--weights", "w4"])
    other = adapter_file(work, f"{name}-ad1-for-w4", dirs[0], qbase)
    trunc = os.path.join(work, f"{name}-truncated.mote-lora")
    corrupt = os.path.join(work, f"{name}-corrupt.mote-lora")
    blob = open(files[0], "rb").read()
    open(trunc, "wb").write(blob[:len(blob) - 100])
    flipped = bytearray(blob)
    flipped[-200] ^= 0x40  # inside the weights section
    open(corrupt, "wb").write(bytes(flipped))
    bad = [other, trunc, corrupt, base]
    step, pre, bad_lines = run_lora(work, base, ids, files, bad, scfg.vocab_size, name)
    worst = 0.0
    for c, label in enumerate(["no adapter", "adapter 1", "adapter 2"]):
        worst = max(worst, E.compare_logits(f"{name} {label} step (x{SWAPS} swaps)", step[c], want[c]))
        worst = max(worst, E.compare_logits(f"{name} {label} prefill", pre[c], want[c][-1:]))
    # The adapters must matter, or the comparisons above prove nothing.
    for c in (1, 2):
        d = float(np.abs(want[c] - want[0]).max() / np.abs(want[0]).max())
        if d < 1e-2:
            E.fail(f"{name}: adapter {c} changes the reference logits by only {d:.2e}")
    expect_bad = [("base_hash", "another base"), ("truncated",), ("xxh64 mismatch",),
                  ("not a Mote bundle",)]
    if len(bad_lines) != len(bad):
        E.fail(f"{name}: bad adapters: {bad_lines}")
    for line, words in zip(bad_lines, expect_bad):
        if not all(w in line for w in words):
            E.fail(f"{name}: bad adapter message {line!r} lacks {words}")
    # The scalar reference kernels (MOTE_ISA=ref) take the same path.
    os.environ["MOTE_ISA"] = "ref"
    try:
        rstep, rpre, _ = run_lora(work, base, ids, files, [], scfg.vocab_size, name + " ref")
    finally:
        del os.environ["MOTE_ISA"]
    for c in range(3):
        worst = max(worst, E.compare_logits(f"{name} MOTE_ISA=ref choice {c} step", rstep[c], want[c]))
        worst = max(worst, E.compare_logits(f"{name} MOTE_ISA=ref choice {c} prefill", rpre[c], want[c][-1:]))
    # f16 adapters (motec adapter --dtype f16): about half the bytes, and the
    # logits of the reference on the f16-rounded A and B.
    h_files = []
    for (t, _), d, f in zip(specs, dirs, files):
        out = os.path.join(work, f"{name}-{t}-f16.mote-lora")
        E.run([E.tool("motec"), "adapter", d, "--base", base, "-o", out, "-q", "--dtype", "f16"])
        if not os.path.getsize(out) < 0.6 * os.path.getsize(f):
            E.fail(f"{name}: f16 adapter {os.path.getsize(out)} bytes vs f32 {os.path.getsize(f)}")
        h_files.append(out)
    import copy
    h_ads = []
    for ad in ads:
        h = copy.copy(ad)
        h.tensors = {k: (a.astype(np.float16).astype(np.float32), b.astype(np.float16).astype(np.float32))
                     for k, (a, b) in ad.tensors.items()}
        h_ads.append(h)
    h_refs, _ = references(src, h_ads)
    hstep, hpre, _ = run_lora(work, base, ids, h_files, [], scfg.vocab_size, name + " f16")
    for c in (1, 2):
        h_want = h_refs[c].logits(ids)
        worst = max(worst, E.compare_logits(f"{name} f16 adapter {c} step", hstep[c], h_want))
        worst = max(worst, E.compare_logits(f"{name} f16 adapter {c} prefill", hpre[c], h_want[-1:]))
    # Greedy text with mote-run --adapter.
    prompt = E.story_ids(5)
    for k, f in enumerate(files):
        got = [int(t) for t in E.run([E.tool("mote-run"), base, "--ids", E.ids_arg(prompt), "-n", "24",
                                      "--temp", "0", "--print-ids", "--adapter", f]).stdout.split()]
        E.compare_tokens(f"{name} greedy adapter {k + 1}", got, refs[k + 1].generate(prompt, 24))
    report.append(f"{name}: none/ad1/ad2 step ({SWAPS} swaps per step) and prefill logits "
                  f"max|d|/max|logit| {worst:.2e} (tol 1e-4); greedy 24 match; "
                  f"{len(bad)} bad adapters rejected mid-run")

    # Quantized bases vs the fake-quantized reference + adapter.
    for wq in ("w4", "w2") if quantized else ():
        qb = qbase if wq == "w4" else E.compile_model(
            src, os.path.join(work, f"{name}-{wq}-lora.mote"), ["--lora-max-rank", "32", "--weights", wq])
        qf = [adapter_file(work, f"{name}-{t}-{wq}", d, qb) for (t, _), d in zip(specs, dirs)]
        qrefs, _ = references(src, ads, quant=dict(weights=wq, group=32, fmode="maxabs", embed=4))
        qstep, qpre, _ = run_lora(work, qb, ids, qf, [], scfg.vocab_size, f"{name} {wq}")
        E.REL_TOL = 1e-3
        qworst = 0.0
        for c in range(3):
            want_q = qrefs[c].logits(ids)
            qworst = max(qworst, E.compare_logits(f"{name} {wq} choice {c} step", qstep[c], want_q))
            qworst = max(qworst, E.compare_logits(f"{name} {wq} choice {c} prefill", qpre[c], want_q[-1:]))
        E.REL_TOL = 1e-4
        report.append(f"{name} {wq} base: none/ad1/ad2 vs fake-quant reference + adapter "
                      f"{qworst:.2e} (tol 1e-3)")
    return base, dirs, files


def check_bad_motec(work, base, dirs, report):
    """motec adapter rejections, each one line, no output left."""
    import json
    out = os.path.join(work, "bad.mote-lora")
    src260 = E.model_path("stories260K", work)
    # An adapter for another base: stories260K's adapter on tiny-qwen2.
    qwen_base = os.path.join(work, "tiny-qwen2-lora.mote")
    msgs = [motec_fails(["adapter", dirs[0], "--base", qwen_base, "-o", out], out,
                        ["adapter_model.safetensors", "another base"], "another base")]

    def variant(tag, mutate_cfg=None, drop=None, reshape=None):
        d = os.path.join(work, "bad-" + tag)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(dirs[0], d)
        if mutate_cfg:
            p = os.path.join(d, "adapter_config.json")
            c = json.load(open(p))
            mutate_cfg(c)
            json.dump(c, open(p, "w"))
        if drop or reshape:
            from mote_ref import safetensors
            p = os.path.join(d, "adapter_model.safetensors")
            t = {k: np.array(v) for k, v in safetensors.load(p).items()}
            if drop:
                del t[drop]
            if reshape:
                reshape(t)
            safetensors.save(p, t, metadata={"format": "pt"})
        return d

    lb = "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"
    d = variant("missing", drop=lb)
    msgs.append(motec_fails(["adapter", d, "--base", base, "-o", out], out,
                            ["adapter_model.safetensors", lb, "missing"], "missing lora_B"))
    d = variant("rank", mutate_cfg=lambda c: c.update(r=4))
    msgs.append(motec_fails(["adapter", d, "--base", base, "-o", out], out,
                            ["disagree with r = 4", "adapter_config.json"], "rank disagrees"))
    d = variant("unknown", mutate_cfg=lambda c: c.update(target_modules=c["target_modules"] + ["lm_head"]))
    msgs.append(motec_fails(["adapter", d, "--base", base, "-o", out], out,
                            ["target_modules", "lm_head"], "unknown target"))
    small = E.compile_model(src260, os.path.join(work, "stories260K-r4.mote"), ["--lora-max-rank", "4"])
    msgs.append(motec_fails(["adapter", dirs[0], "--base", small, "-o", out], out,
                            ["r: 8", "above the compiled max rank 4"], "rank above max"))
    qv = E.compile_model(src260, os.path.join(work, "stories260K-qv.mote"),
                         ["--lora-max-rank", "32", "--lora-targets", "q,v"])
    msgs.append(motec_fails(["adapter", dirs[0], "--base", qv, "-o", out], out,
                            ["lora_sites", "no site lora.layers.0.wk"], "target not compiled"))
    plain = E.compile_model(src260, os.path.join(work, "stories260K-plain.mote"))
    msgs.append(motec_fails(["adapter", dirs[0], "--base", plain, "-o", out], out,
                            ["no LoRA sites", "--lora-max-rank"], "base without sites"))
    msgs.append(motec_fails(["compile", src260, "-o", out, "--lora-max-rank", "300"], out,
                            ["--lora-max-rank 300", "rank above the maximum"], "max rank 300"))
    msgs.append(motec_fails(["compile", src260, "-o", out, "--lora-max-rank", "8",
                             "--lora-targets", "q,nope"], out,
                            ["unknown module 'nope'"], "bad --lora-targets"))
    report.append("motec rejections: " + " | ".join(m.replace("motec: error: ", "") for m in msgs))


def main():
    E.need_torch()
    for t in ("motec", "mote-run", "mote_lora_run"):
        E.tool(t)
    work = E.work_dir("lora")
    report = []
    base260, dirs260, _ = check_model("stories260K", work, report)
    check_model("tiny-qwen2", work, report)
    # Natively KV-shared: shared layers have no k/v sites, and their prefill
    # runs on the last row (mote-prune-shared-prefill before mote-lora-fuse).
    check_model("tinystories-3M-kvshared", work, report, quantized=False)
    check_bad_motec(work, base260, dirs260, report)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
