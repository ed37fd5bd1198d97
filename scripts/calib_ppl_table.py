#!/usr/bin/python3
"""Regenerates the quantization perplexity table of docs/quantization.md
("Perplexity: weight-only search vs calibrated rounding").

For each model: calibration stats (python3 -m mote_ref calib-stats, first
--calib-tokens tokens of tinystories-train-2M.txt), then one bundle per
column (motec compile --score-graph ...) in WORK/<model>/, then
`mote-bench X.mote --perplexity tinystories-valid.txt --json` (strided,
context 256 / stride 128; aidreams260K 128 / 64, its max_seq_len), each
perplexity run under `flock /tmp/mote-build.lock` (the shared machine's CPU lock), with
f32 activations (MOTE_ACTIVATIONS=f32: the weight error alone). Results
are cached as WORK/<model>/<column>.ppl.json (delete them to rerun). Prints
a markdown table: perplexity and bits per weight actually stored (motec's
--report-json `bits_per_weight`: codes + scales + row padding + f32 norms,
over all weights).

  scripts/calib_ppl_table.py [--work /tmp/calib-ppl] [--models a,b,c]
      [--max-tokens MODEL=N,...] [--threads 2] [--groups 32,128]
      [--only 'w2 gptq g32,w2 gptq-act g32']
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHARED = os.environ.get("MOTE_SHARED") or os.path.normpath(os.path.join(ROOT, "..", "shared"))
BIN = os.environ.get("MOTE_BIN") or os.path.join(ROOT, "build", "bin")
PY = "/usr/bin/python3"
LOCK = "/tmp/mote-build.lock"

MODELS = {  # name -> (path, ppl context)
    "tinystories-3M": (os.path.join(SHARED, "models", "tinystories-3M"), 256),
    "stories260K": (os.path.join(SHARED, "models", "stories260K", "stories260K.bin"), 256),
    "aidreams260K": (os.path.join(SHARED, "models", "aidreams260K", "aidreams260K.bin"), 128),
}


def columns(groups):
    """(label, motec flags) per column."""
    cols = [("f32", [])]
    for bits in ("w8", "w4"):
        for g in groups:
            cols.append((f"{bits} g{g}", ["--weights", bits, "--group-size", str(g)]))
    for g in groups:
        base = ["--weights", "w2", "--group-size", str(g)]
        cols += [(f"w2 maxabs g{g}", base + ["--f", "maxabs"]),
                 (f"w2 search g{g}", base + ["--f", "search"]),
                 (f"w2 awq g{g}", base + ["--calibration", "STATS", "--rounding", "awq"]),
                 (f"w2 gptq g{g}", base + ["--calibration", "STATS", "--rounding", "gptq"]),
                 (f"w2 gptq-act g{g}", base + ["--calibration", "STATS", "--rounding", "gptq-act"]),
                 (f"w2 awq-scale gptq g{g}",
                  base + ["--calibration", "STATS", "--rounding", "gptq", "--awq-scale"]),
                 (f"w2 awq-scale gptq-act g{g}",
                  base + ["--calibration", "STATS", "--rounding", "gptq-act", "--awq-scale"])]
    for g in groups:
        base = ["--weights", "w4", "--group-size", str(g), "--calibration", "STATS"]
        cols += [(f"w4 gptq g{g}", base + ["--rounding", "gptq"]),
                 (f"w4 gptq-act g{g}", base + ["--rounding", "gptq-act"]),
                 (f"w4 awq-scale gptq-act g{g}", base + ["--rounding", "gptq-act", "--awq-scale"])]
    return cols


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout.decode()


def stats_file(name, path, work, tokens):
    out = os.path.join(work, "stats.safetensors")
    if os.path.exists(out):
        return out
    cmd = [PY, "-m", "mote_ref", "calib-stats", path, "--data",
           os.path.join(SHARED, "data", "tinystories-train-2M.txt"), "--tokens", str(tokens), "-o", out,
           "--mote-run", os.path.join(BIN, "mote-run")]
    if name == "aidreams260K":  # no SentencePiece .model: tokenize with Mote's own tokenizer
        f32 = os.path.join(work, "tokenizer-f32.mote")
        run([os.path.join(BIN, "motec"), "compile", path, "-o", f32, "-q"])
        cmd += ["--tokenize-with", f32]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "toolkit"))
    run(cmd, env=env)  # seconds: not under the lock
    return out


def measure(name, label, flags, work, stats, ctx, max_tokens, threads):
    slug = label.replace(" ", "-")
    res = os.path.join(work, slug + ".ppl.json")
    if os.path.exists(res):
        with open(res) as f:
            return json.load(f)
    path = MODELS[name][0]
    bundle = os.path.join(work, slug + ".mote")
    rj = bundle + ".report.json"
    flags = [stats if a == "STATS" else a for a in flags]
    run([os.path.join(BIN, "motec"), "compile", path, "-o", bundle, "-q",
         "--score-graph", "--report-json", rj] + flags)
    with open(rj) as f:
        rep = json.load(f)
    cmd = ["flock", LOCK, os.path.join(BIN, "mote-bench"), bundle, "--perplexity",
           os.path.join(SHARED, "data", "tinystories-valid.txt"), "--ppl-context", str(ctx),
           "--ppl-stride", str(ctx // 2), "--threads", str(threads), "--json"]
    if max_tokens:
        cmd += ["--ppl-max-tokens", str(max_tokens)]
    # f32 activations (motec's default for quantized weights is int8 x):
    # the table isolates the weight error.
    ppl = json.loads(run(cmd, env=dict(os.environ, MOTE_ACTIVATIONS="f32")))
    out = {"model": name, "column": label, "flags": flags, "perplexity": ppl["perplexity"],
           "tokens": ppl["tokens"], "tokens_scored": ppl["tokens_scored"], "seconds": ppl["seconds"],
           "bits_per_weight": rep["bits_per_weight"], "file_bytes": rep["file_bytes"]}
    lin = [t for t in rep["tensor_bits"] if "rel_out_error" in t]
    if lin:  # calibrated: mean relative output error on H, vs the weight-only search
        out["rel_out_error"] = sum(t["rel_out_error"] for t in lin) / len(lin)
        out["rel_out_error_search"] = sum(t["rel_out_error_search"] for t in lin) / len(lin)
    with open(res, "w") as f:
        json.dump(out, f, indent=1)
    os.remove(bundle)  # keep /tmp small; the result is cached
    print(f"  {name} {label}: ppl {out['perplexity']:.4f}, {out['bits_per_weight']:.3f} bits/weight, "
          f"{out['tokens_scored']} tokens, {out['seconds']:.1f} s", file=sys.stderr, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/calib-ppl")
    ap.add_argument("--models", default="stories260K,aidreams260K,tinystories-3M")
    ap.add_argument("--max-tokens", default="", help="MODEL=N,...: score only the first N tokens")
    ap.add_argument("--calib-tokens", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--groups", default="32,128")
    ap.add_argument("--only", default="",
                    help="comma-separated column labels (e.g. 'w2 gptq g32,w2 gptq-act g32'): "
                         "measure and print only these")
    a = ap.parse_args()
    limits = dict((kv.split("=")[0], int(kv.split("=")[1])) for kv in a.max_tokens.split(",") if kv)
    groups = [int(g) for g in a.groups.split(",")]
    cols = columns(groups)
    if a.only:
        want = [c.strip() for c in a.only.split(",") if c.strip()]
        unknown = [c for c in want if c not in [l for l, _ in cols]]
        if unknown:
            sys.exit(f"--only: no column {unknown[0]!r}; columns: {', '.join(l for l, _ in cols)}")
        cols = [c for c in cols if c[0] in want]
    rows = {}
    for name in a.models.split(","):
        path, ctx = MODELS[name]
        work = os.path.join(a.work, name)
        os.makedirs(work, exist_ok=True)
        stats = stats_file(name, path, work, a.calib_tokens)
        rows[name] = [measure(name, label, flags, work, stats, ctx, limits.get(name), a.threads)
                      for label, flags in cols]
    print("| model | " + " | ".join(c[0] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, rs in rows.items():
        n = rs[0]["tokens_scored"]
        print(f"| {name} ppl ({n} tokens) | " + " | ".join(f"{r['perplexity']:.4f}" for r in rs) + " |")
        print(f"| {name} bits/weight | " + " | ".join(f"{r['bits_per_weight']:.3f}" for r in rs) + " |")
    print()
    print("| model | column | mean rel. output error on H (calibrated) | same, weight-only search |")
    print("|---|---|---:|---:|")
    for name, rs in rows.items():
        for r in rs:
            if "rel_out_error" in r:
                print(f"| {name} | {r['column']} | {r['rel_out_error']:.4f} | {r['rel_out_error_search']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
