"""Calibration statistics for motec's calibrated rounding (docs/quantization.md,
"Calibrated rounding").

  python3 -m mote_ref calib-stats MODEL --data TEXT --tokens N -o stats.safetensors
      [--window W] [--tokenizer X.model | --tokenize-with BUNDLE [--mote-run PATH]]

Runs the float64 reference (mote_ref.model) over the first N tokens of TEXT
and writes, for every linear weight <param> (canonical names layers.<i>.wq,
wk, wv, wo, w1, w2, w3), the F32 tensor "<param>.hessian" of shape [K, K]:
H = X^T X / n, X the (n, K) inputs of that linear over the n calibration
tokens (accumulated in float64, stored as float32), and the F32 tensor
"<param>.absmean" of shape [K]: mean |x_k| over the same tokens (AWQ's
channel statistic for motec --awq-scale; stats files without it still work,
motec then uses sqrt(H_kk)). wq/wk/wv (and w1/w3) read the same input, so
their H are equal. __metadata__ records the format ("mote-calib-1"), the
token count, the window and the data file.

Tokens: the text's first bytes (cut at a line end, enough for N tokens) are
tokenized as one string, BOS first, as mote-bench --perplexity does; the
ids are cut into windows of W tokens (default min(256, max_seq_len)), each
window after the first starting with BOS again, each run from an empty KV
cache. Tokenizer: --tokenizer (SentencePiece .model), else a .model found
beside the checkpoint (tokenizer.model, tok512.model), else --tokenize-with
BUNDLE runs `mote-run BUNDLE --tokenize -p TEXT` (models that ship only a
llama2.c tokenizer.bin, e.g. aidreams260K).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

from . import loaders, safetensors

FORMAT = "mote-calib-1"
LINEAR = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


def hessian_name(param):
    return param + ".hessian"


def absmean_name(param):
    return param + ".absmean"


def find_tokenizer(model):
    d = model if os.path.isdir(model) else os.path.dirname(os.path.abspath(model))
    for fn in ("tokenizer.model", "tok512.model"):
        p = os.path.join(d, fn)
        if os.path.exists(p):
            return p
    return None


def read_prefix(path, n_tokens, bytes_per_token=8):
    """The file's first bytes, enough for ~n_tokens, cut at a line end."""
    with open(path, "rb") as f:
        data = f.read(max(4096, n_tokens * bytes_per_token))
    cut = data.rfind(b"\n")
    if cut > 0 and len(data) >= 4096:
        data = data[:cut + 1]
    return data.decode("utf-8", errors="replace")


def tokenize(text, tokenizer=None, bundle=None, mote_run=None):
    """BOS + ids of text."""
    if tokenizer:
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=tokenizer)
        return [1] + sp.encode(text)
    if not bundle:
        raise SystemExit("calib-stats: no tokenizer: give --tokenizer X.model or --tokenize-with BUNDLE")
    r = subprocess.run([mote_run, bundle, "--tokenize", "-p", text], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        raise SystemExit(f"calib-stats: {mote_run} --tokenize failed: {r.stderr.decode(errors='replace')}")
    return [int(t) for t in r.stdout.split()]


def windows(ids, n_tokens, window):
    """Windows of `window` tokens covering the first n_tokens ids; every
    window after the first starts with BOS."""
    ids = ids[:n_tokens]
    out = [ids[:window]]
    i = window
    while i < len(ids):
        out.append([1] + ids[i:i + window - 1])
        i += window - 1
    return [w for w in out if len(w) > 1]


def collect(cfg, weights, wins):
    """({param: H (K, K) float64}, {param: mean |x| (K,) float64}, token count)."""
    import torch
    from .model import Reference

    sums, abs_sums = {}, {}

    class Recorder(Reference):
        def _lin(self, x, name, bias=None):
            base = name.rsplit(".", 1)[-1]
            if name.startswith("layers.") and base in LINEAR:
                xx = x.T @ x
                sums[name] = xx if name not in sums else sums[name] + xx
                ax = x.abs().sum(0)
                abs_sums[name] = ax if name not in abs_sums else abs_sums[name] + ax
            return super()._lin(x, name, bias)

    ref = Recorder(cfg, weights)
    n = 0
    with torch.no_grad():
        for w in wins:
            ref.reset()
            ref.forward(w)
            n += len(w)
    return ({k: (v / n).numpy() for k, v in sums.items()},
            {k: (v / n).numpy() for k, v in abs_sums.items()}, n)


def compute(model, data, n_tokens, window=0, tokenizer=None, bundle=None, mote_run=None):
    cfg, w = loaders.load(model)
    window = window or min(256, cfg.max_seq_len)
    if window > cfg.max_seq_len:
        raise SystemExit(f"calib-stats: --window {window} > max_seq_len {cfg.max_seq_len}")
    if not tokenizer and not bundle:
        tokenizer = find_tokenizer(model)
    bpt = 8
    while True:  # read more text until it holds n_tokens (or the file ends)
        text = read_prefix(data, n_tokens, bpt)
        ids = tokenize(text, tokenizer, bundle, mote_run)
        if len(ids) >= n_tokens or len(text.encode()) < n_tokens * bpt:
            break
        bpt *= 2
    if len(ids) < n_tokens:
        raise SystemExit(f"calib-stats: {data}: only {len(ids)} tokens, asked for {n_tokens}")
    H, A, n = collect(cfg, w, windows(ids, n_tokens, window))
    meta = {"format": FORMAT, "tokens": n, "window": window, "data": os.path.abspath(data),
            "model": os.path.abspath(model)}
    return H, A, meta


def save(path, H, A, meta):
    t = {hessian_name(k): v.astype(np.float32) for k, v in H.items()}
    t.update({absmean_name(k): v.astype(np.float32) for k, v in A.items()})
    safetensors.save(path, dict(sorted(t.items())), meta)


def main(argv):
    ap = argparse.ArgumentParser(prog="mote_ref calib-stats",
                                 description="Per-linear input second moments H = X^T X / n")
    ap.add_argument("model")
    ap.add_argument("--data", required=True, help="calibration text file")
    ap.add_argument("--tokens", type=int, default=4096, help="calibration tokens (default 4096)")
    ap.add_argument("--window", type=int, default=0, help="tokens per window (default min(256, max_seq_len))")
    ap.add_argument("--tokenizer", help="SentencePiece .model (default: found beside MODEL)")
    ap.add_argument("--tokenize-with", dest="bundle", help="tokenize with this bundle's tokenizer (mote-run)")
    ap.add_argument("--mote-run", default=os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                       "bin", "mote-run"))
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    if a.tokens < 2:
        ap.error("--tokens must be >= 2")
    H, A, meta = compute(a.model, a.data, a.tokens, a.window, a.tokenizer, a.bundle, a.mote_run)
    save(a.output, H, A, meta)
    print(f"calib-stats: {len(H)} tensors, {meta['tokens']} tokens -> {a.output}", file=sys.stderr)
    return 0
