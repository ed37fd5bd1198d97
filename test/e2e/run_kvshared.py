#!/usr/bin/python3
"""e2e_tinystories-3M-kvshared: a natively KV-shared checkpoint (config.json
num_kv_shared_layers = 3: layers 5-7 have no k_proj/v_proj and attend over
layer 4's K/V) compiles with sharing on and no approximation.

- the reference's shared-attention semantics are checked first against
  PROVENANCE.md's perplexity (7.96; a wrong source layer gives far worse);
- the IR has K/V projections, kv_appends and caches for layers 0-4 only, and
  every shared layer's attention reads layer 4's kv_append results;
- the compile report's KV bytes per token are those of the 5 owning layers;
- the prefill graph runs the shared layers on the last row (two last_row
  steps, mote-prune-shared-prefill), decode is unchanged;
- then run_model.py's checks: logits at every position (decode graph),
  chunked prefill, 128 greedy tokens (1 and 2 threads) equal the reference.
"""
import json
import os
import re
import sys

import numpy as np

import e2e_common as E
import run_model

NAME = "tinystories-3M-kvshared"
PROVENANCE_PPL = 7.96  # ../shared/models/PROVENANCE.md


def check_reference(src):
    import sentencepiece
    import torch
    from mote_ref import Reference
    data = os.path.join(os.environ.get("MOTE_SHARED", os.path.join(E.MODELS, "..")),
                        "data", "tinystories-valid.txt")
    if not os.path.isfile(data):
        E.missing(f"data {data}")
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(src, "tokenizer.model"))
    with open(data) as f:
        ids = [1] + sp.encode(f.read(3000))[:255]
    ref = Reference.from_path(src)
    lp = torch.log_softmax(torch.from_numpy(ref.logits(ids)), -1)[:-1]
    nll = -lp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    ppl = float(torch.exp(nll.mean()))
    if abs(ppl / PROVENANCE_PPL - 1) > 0.1:
        E.fail(f"reference perplexity {ppl:.2f} is not PROVENANCE.md's {PROVENANCE_PPL}")
    return ppl


def check_ir_and_report(src, work):
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    L, n = cfg["num_hidden_layers"], cfg["num_kv_shared_layers"]
    first = L - n
    width = cfg["num_key_value_heads"] * (cfg["hidden_size"] // cfg["num_attention_heads"])
    out = os.path.join(work, "kvs-ir.mote")
    mlir = os.path.join(work, "kvs.mlir")
    rep = os.path.join(work, "kvs-report.json")
    E.run([E.tool("motec"), "compile", src, "-o", out, "-q", "--emit-mlir", mlir,
           "--report-json", rep])
    with open(rep) as f:
        kvb = json.load(f)["kv_bytes_per_token"]
    if kvb != first * 2 * width * 4:
        E.fail(f"kv_bytes_per_token {kvb}, want {first} layers x 2 x {width} x 4")
    with open(mlir) as f:
        ir = f.read()
    caches = sorted(re.findall(r"mote\.kv_cache @kv\.([kv])\.(\d+)", ir))
    if caches != sorted((kv, str(i)) for kv in "kv" for i in range(first)):
        E.fail(f"kv caches {caches}: want k/v for layers 0..{first - 1} only")
    for i in range(first, L):
        for w in ("wk", "wv"):
            if f"@layers.{i}.{w}" in ir:
                E.fail(f"shared layer {i} still references {w}")
    # Each graph: `%kc = mote.kv_append @kv.k.<first-1>` feeds the attention
    # of layer first-1 and of every shared layer (n + 1 attentions).
    for g in re.split(r"func\.func ", ir)[1:]:
        kc = re.search(rf"(%\w+) = mote\.kv_append @kv\.k\.{first - 1}\b", g)
        vc = re.search(rf"(%\w+) = mote\.kv_append @kv\.v\.{first - 1}\b", g)
        if not kc or not vc:
            E.fail(f"graph has no kv_append for layer {first - 1}")
        uses = re.findall(rf"mote\.attention [^\n]*{re.escape(kc.group(1))}, "
                          rf"{re.escape(vc.group(1))}\b", g)
        if len(uses) != n + 1:
            E.fail(f"{len(uses)} attentions read layer {first - 1}'s cache, want {n + 1}")
        if len(re.findall(r"mote\.kv_append", g)) != 2 * first:
            E.fail(f"graph has {len(re.findall(r'mote.kv_append', g))} kv_appends, want {2 * first}")
    return kvb


def check_last_row(path):
    """mote-prune-shared-prefill ran: the prefill graph has the decode graph's
    steps plus two mote.last_row steps (residual stream and positions) whose
    kernels are last_row_f32 / last_row_i32; decode has none."""
    txt = E.run([E.tool("motec"), "inspect", path]).stdout.decode()
    steps = {m.group(1): int(m.group(2))
             for m in re.finditer(r"graph (\w+) \(.*, (\d+) steps,", txt)}
    if steps.get("prefill") != steps.get("decode", -10) + 2:
        E.fail(f"{path}: prefill has {steps.get('prefill')} steps, want decode's "
               f"{steps.get('decode')} + 2 last_row steps:\n{txt}")
    with open(path, "rb") as f:
        data = f.read()
    for k in (b"last_row_f32", b"last_row_i32"):
        if data.count(k) != 1:
            E.fail(f"{path}: want one {k.decode()} step, found {data.count(k)}")


def main():
    E.need_torch()
    work = E.work_dir(NAME)
    src = E.model_path(NAME, work)
    ppl = check_reference(src)
    kvb = check_ir_and_report(src, work)
    check_last_row(os.path.join(work, "kvs-ir.mote"))
    print(f"{NAME}: reference perplexity {ppl:.2f} (PROVENANCE {PROVENANCE_PPL}); "
          f"kv bytes/token {kvb}")
    sys.argv = [sys.argv[0], NAME]
    return run_model.main()


if __name__ == "__main__":
    sys.exit(main())
