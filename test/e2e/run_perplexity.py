#!/usr/bin/python3
"""e2e_perplexity: mote-bench --perplexity against a float64 PyTorch computation.

For stories260K and tinystories-3M: the first 2,000 tokens (BOS first) of
tinystories-valid.txt, scored in the windows docs/mote-bench.md defines
(strided: context 256 / stride 128, and 200 / 72; llama: context 256). The
reference tokenizes with python-sentencepiece, runs toolkit/mote_ref's
float64 forward on each window from an empty cache and sums -log softmax of
the same targets. Mote's perplexity must agree within 1e-4 relative, its
token counts exactly. A bundle without a score graph (decode fallback) must
give the score graph's perplexity.
"""
import json
import math
import os
import sys

import e2e_common as E

MAX_TOKENS = 2000
PPL_REL_TOL = 1e-4
TOKENIZER = {"stories260K": "tok512.model", "tinystories-3M": "tokenizer.model"}


def windows(n, ctx, stride, scheme):
    """(begin, end, first_target) triples; targets are absolute positions
    [first_target, end), each predicted from the row before it."""
    out = []
    if scheme == "llama":
        for c in range(n // ctx):
            b = c * ctx
            out.append((b, b + ctx, b + ctx // 2 + 1))
        return out
    prev_end, b = 0, 0
    while True:
        e = min(b + ctx, n)
        out.append((b, e, max(prev_end, b + 1)))
        prev_end = e
        if e == n:
            return out
        b += stride


def reference(ref, ids, ctx, stride, scheme):
    import torch
    nll, count = 0.0, 0
    for b, e, t0 in windows(len(ids), ctx, stride, scheme):
        win = list(ids[b:e])
        if scheme == "llama":
            win[0] = 1  # BOS replaces the chunk's first token
        logp = torch.log_softmax(torch.from_numpy(ref.logits(win)), dim=-1)
        for p in range(t0, e):
            nll -= float(logp[p - 1 - b, ids[p]])
            count += 1
    return math.exp(nll / count), count


def mote_ppl(bundle, text, ctx, stride, scheme):
    r = E.run([E.tool("mote-bench"), bundle, "--perplexity", text, "--json", "--threads", "2",
               "--ppl-context", str(ctx), "--ppl-stride", str(stride), "--ppl-scheme", scheme,
               "--ppl-max-tokens", str(MAX_TOKENS)], timeout=600)
    return json.loads(r.stdout.decode())


def main():
    E.need_torch()
    import sentencepiece
    from mote_ref import Reference
    shared = os.environ.get("MOTE_SHARED") or os.path.dirname(E.MODELS)
    text = os.path.join(shared, "data", "tinystories-valid.txt")
    if not os.path.isfile(text):
        E.missing(f"data {text}")
    with open(text, encoding="utf-8") as f:
        body = f.read()
    for name in ("stories260K", "tinystories-3M"):
        work = E.work_dir("perplexity-" + name)
        src = E.model_path(name, work)
        sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(src, TOKENIZER[name]))
        # Enough text for MAX_TOKENS; the cut never reaches them (a
        # boundary would only change tokens near its end).
        ids = ([1] + sp.encode(body[:MAX_TOKENS * 8]))[:MAX_TOKENS]
        if len(ids) < MAX_TOKENS:
            E.fail(f"{name}: only {len(ids)} tokens in the text prefix")
        # 48-row score graph: every 256-token window takes 6 chunks.
        scored = E.compile_model(src, os.path.join(work, name + "-score.mote"),
                                 ["--score-graph", "--prefill-tokens", "48"])
        plain = E.compile_model(src, os.path.join(work, name + ".mote"))
        ref = Reference.from_path(src)
        for ctx, stride, scheme in ((256, 128, "strided"), (200, 72, "strided"),
                                    (256, 256, "llama")):
            label = f"{name} {scheme} ctx {ctx} stride {stride}"
            got = mote_ppl(scored, text, ctx, stride, scheme)
            want, count = reference(ref, ids, ctx, stride, scheme)
            if got["tokens"] != MAX_TOKENS or got["tokens_scored"] != count:
                E.fail(f"{label}: mote tokens {got['tokens']} scored {got['tokens_scored']}, "
                       f"reference {MAX_TOKENS} / {count}")
            rel = abs(got["perplexity"] - want) / want
            if not rel <= PPL_REL_TOL:
                E.fail(f"{label}: mote {got['perplexity']:.6f} vs float64 {want:.6f} "
                       f"(relative {rel:.3g} > {PPL_REL_TOL})")
            print(f"{label}: mote {got['perplexity']:.6f} float64 {want:.6f} "
                  f"(rel {rel:.2g}, {count} targets, {got['windows']} windows)")
            if scheme == "strided" and ctx == 256:
                fb = mote_ppl(plain, text, ctx, stride, scheme)
                if abs(fb["perplexity"] - got["perplexity"]) > 1e-6 * want:
                    E.fail(f"{label}: decode fallback {fb['perplexity']:.9f} != "
                           f"score graph {got['perplexity']:.9f}")
    bad_input(os.path.join(E.work_dir("perplexity-stories260K"), "stories260K-score.mote"))
    return 0


def bad_input(bundle):
    """Unreadable or too-short text: exit 1; bad options: exit 2; one line."""
    work = E.work_dir("perplexity-bad")
    short = os.path.join(work, "short.txt")
    with open(short, "w") as f:
        f.write("Once upon a time")
    cases = [
        (1, ["--perplexity", os.path.join(work, "no-such.txt")], "cannot read"),
        (1, ["--perplexity", short, "--ppl-scheme", "llama"], "too few"),
        (2, ["--perplexity", short, "--ppl-context", "100000"], "--ppl-context"),
        (2, ["--perplexity", short, "--ppl-context", "64", "--ppl-stride", "65"], "--ppl-stride"),
        (2, ["--perplexity", short, "--ppl-scheme", "hf"], "--ppl-scheme"),
        (2, ["--perplexity", short, "--ppl-max-tokens", "1"], "--ppl-max-tokens"),
    ]
    for rc, args, what in cases:
        r = E.run([E.tool("mote-bench"), bundle, *args], check=False)
        err = r.stderr.decode()
        if r.returncode != rc or len(err.strip().splitlines()) != 1 or what not in err:
            E.fail(f"mote-bench {' '.join(args)}: exit {r.returncode} (want {rc}), stderr {err!r}")
    print(f"bad input: {len(cases)} cases rejected with one line")


if __name__ == "__main__":
    sys.exit(main())
