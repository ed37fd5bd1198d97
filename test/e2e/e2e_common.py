"""Shared helpers for Mote's end-to-end tests (compile, run, compare).

Environment (set by ctest through MOTE_TEST_ENV): MOTE_BIN (motec, mote-run),
MOTE_MODELS, MOTE_SOURCE (repo root, for toolkit/), MOTE_BUILD. Under CI=true
anything missing is a failure; otherwise a missing model, tool or torch skips
(exit 77, ctest SKIP_RETURN_CODE).
"""
import os
import subprocess
import sys

import numpy as np

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("MOTE_SOURCE") or os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.environ.get("MOTE_MODELS") or os.path.normpath(os.path.join(SOURCE, "..", "shared", "models"))
BIN = os.environ.get("MOTE_BIN") or os.path.join(SOURCE, "build", "bin")
IN_CI = os.environ.get("CI", "").lower() == "true"
REL_TOL = 1e-4
sys.path.insert(0, os.path.join(SOURCE, "toolkit"))

# Test models: name -> path under MOTE_MODELS, or ("gen", preset, seed).
MODEL_TABLE = {
    "stories260K": "stories260K",
    "stories260K-v1": "stories260K-v1",
    "stories260K-hf": "stories260K-hf",
    "stories260K-hf-bf16": "stories260K-hf-bf16",
    "aidreams260K": "aidreams260K",
    "tinystories-3M": "tinystories-3M",
    "tinystories-3M-llama2c": "tinystories-3M-llama2c",
    "tinystories-3M-kvshared": "tinystories-3M-kvshared",
    "tiny-qwen2": ("gen", "tiny-qwen2", 7),
    "tiny-untied": ("gen", "tiny-untied", 11),
}

# A fixed English paragraph; tokenized with tok512 it gives > 150 ids.
STORY = ("Once upon a time, there was a little boy named Tom. Tom loved to play with his "
         "red ball in the big park near his house. One sunny day, his mom said, \"Tom, "
         "let's go to the park and have a picnic!\" Tom was very happy. They packed apples, "
         "bread and a big jar of juice. At the park, Tom saw a small dog with a blue hat. "
         "The dog wanted to play too, so Tom threw the ball and the dog ran after it. They "
         "played all day until the sun went down. Then Tom said goodbye to the dog and went "
         "home with his mom. He was tired but happy, and he slept very well that night.")


def missing(what):
    """A missing prerequisite: failure in CI, skip otherwise. Never returns."""
    if IN_CI:
        print(f"FAIL: {what} (CI=true: missing prerequisites are failures)")
        sys.exit(1)
    print(f"SKIP: {what}")
    sys.exit(SKIP)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        missing("python torch is not importable (use /usr/bin/python3)")


def tool(name):
    p = os.path.join(BIN, name)
    if not os.access(p, os.X_OK):
        missing(f"tool {p} not built")
    return p


def work_dir(name):
    base = os.environ.get("MOTE_E2E_WORK") or os.path.join(
        os.environ.get("MOTE_BUILD") or os.path.join(SOURCE, "build"), "test", "e2e", "work")
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


def model_path(name, work):
    """Path of a test model; generated fixtures are made (seeded) under work."""
    entry = MODEL_TABLE[name]
    if isinstance(entry, tuple):
        _, preset, seed = entry
        out = os.path.join(work, "model-" + preset)
        if not os.path.exists(os.path.join(out, "config.json")):
            tok = os.path.join(MODELS, "stories260K", "tok512.model")
            if not os.path.exists(tok):
                missing(f"model {tok} (tokenizer for generated fixtures)")
            import gen_random_model
            gen_random_model.generate(preset, out, "f32", seed, tokenizer=tok)
        return out
    p = os.path.join(MODELS, entry)
    if not os.path.isdir(p):
        missing(f"model {p}")
    return p


def run(cmd, check=True, timeout=120):
    if os.environ.get("MOTE_E2E_VERBOSE"):
        print("+", " ".join(cmd), flush=True)
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(cmd)} did not finish in {timeout} s")
    if check and r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}\nstdout: {r.stdout.decode(errors='replace')[-2000:]}"
             f"\nstderr: {r.stderr.decode(errors='replace')[-2000:]}")
    return r


def compile_model(src, out, extra=()):
    run([tool("motec"), "compile", src, "-o", out, "-q", *extra])
    if not os.path.isfile(out):
        fail(f"motec produced no {out}")
    return out


def ids_arg(ids):
    return " ".join(str(int(t)) for t in ids)


def mote_logits(bundle, ids, vocab, step, work, threads=None):
    """Runs mote-run --dump-logits; returns (rows, vocab) float32."""
    f = os.path.join(work, "logits.f32")
    if os.path.exists(f):
        os.remove(f)
    cmd = [tool("mote-run"), bundle, "--ids", ids_arg(ids), "--dump-logits", f,
           "-n", "0", "--temp", "0", "--print-ids"]
    if step:
        cmd.append("--step")
    if threads:
        cmd += ["--threads", str(threads)]
    run(cmd)
    a = np.fromfile(f, dtype="<f4")
    rows = len(ids) if step else 1
    if a.size != rows * vocab:
        fail(f"{bundle}: dump has {a.size} floats, expected {rows}x{vocab}")
    return a.reshape(rows, vocab)


def mote_generate(bundle, ids, n, threads=None):
    cmd = [tool("mote-run"), bundle, "--ids", ids_arg(ids), "-n", str(n), "--temp", "0",
           "--print-ids"]
    if threads:
        cmd += ["--threads", str(threads)]
    out = run(cmd).stdout.decode().strip()
    return [int(t) for t in out.split()] if out else []


def compare_logits(label, got, want):
    """Per row: max|d| <= REL_TOL * max|want|. Returns worst ratio; fails on excess."""
    worst = 0.0
    for r in range(want.shape[0]):
        scale = float(np.abs(want[r]).max())
        d = float(np.abs(got[r].astype(np.float64) - want[r]).max())
        ratio = d / scale if scale > 0 else d
        if not np.isfinite(ratio) or ratio > REL_TOL:
            fail(f"{label}: row {r}: max|delta| {d:.3g} vs max|logit| {scale:.3g} "
                 f"(ratio {ratio:.3g} > {REL_TOL})")
        worst = max(worst, ratio)
    return worst


def compare_tokens(label, got, want):
    if got != want:
        k = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                 min(len(got), len(want)))
        fail(f"{label}: tokens differ at {k} (len {len(got)} vs {len(want)})\n"
             f"  mote: {got[max(0, k - 3):k + 5]}\n  ref:  {want[max(0, k - 3):k + 5]}")


def story_ids(n, bos=True):
    """n prompt ids from STORY (tok512), BOS first; cycles if short."""
    import sentencepiece
    tok = os.path.join(MODELS, "stories260K", "tok512.model")
    if not os.path.exists(tok):
        missing(f"model {tok}")
    sp = sentencepiece.SentencePieceProcessor(model_file=tok)
    ids = ([1] if bos else []) + sp.encode(STORY)
    while len(ids) < n:
        ids += ids[1:]
    return ids[:n]
