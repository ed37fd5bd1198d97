#!/usr/bin/python3
"""fuzz_readers_smoke.py KIND FUZZER WORKDIR [SECONDS]: smoke run of one of
the runtime-reader fuzzers (docs/fuzzing.md), KIND = adapter | tokenizer |
session. Compiles the real bundles the harness needs with motec ($MOTE_BIN,
else $MOTE_SOURCE/build/bin), writes a seed corpus under WORKDIR (nothing is
committed), and runs FUZZER for SECONDS (default 20; MOTE_FUZZ_SECONDS
overrides). Exit 77 (skip) when motec or the models are missing, 1 under
CI=true. libFuzzer exits non-zero and prints the input on any crash,
sanitizer report or failed check.

With --prepare-only it writes the inputs and prints the environment and the
command, for long runs by hand:
    python3 test/fuzz/fuzz_readers_smoke.py session build-fuzz/test/fuzz/fuzz_session /tmp/fz --prepare-only
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("MOTE_SOURCE") or os.path.normpath(os.path.join(HERE, "..", ".."))
MODELS = os.environ.get("MOTE_MODELS") or os.path.join(SOURCE, "..", "shared", "models")
SHARED = os.environ.get("MOTE_SHARED") or os.path.join(SOURCE, "..", "shared")
PYTHON = os.environ.get("MOTE_PYTHON") or "/usr/bin/python3"


def skip(msg):
    print(f"fuzz_readers_smoke: {msg}", file=sys.stderr)
    sys.exit(1 if os.environ.get("CI") == "true" else 77)


def find_motec():
    for d in (os.environ.get("MOTE_BIN"), os.path.join(SOURCE, "build", "bin")):
        if d and os.access(os.path.join(d, "motec"), os.X_OK):
            return os.path.join(d, "motec")
    skip("no motec (build the main tree, or set MOTE_BIN)")


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout, file=sys.stderr)
        sys.exit(f"fuzz_readers_smoke: failed: {' '.join(cmd)}")
    return r.stdout


def seed(corpus, name, data):
    with open(os.path.join(corpus, name), "wb") as f:
        f.write(data)


def stories():
    path = os.path.join(MODELS, "stories260K", "stories260K.bin")
    if not os.path.exists(path):
        skip(f"{path} missing (set MOTE_MODELS)")
    return path


def prepare_adapter(motec, work, corpus):
    """Two LoRA bases (rank <= 4, every module): f32 with context 32 and
    prefill 8; w4 with buckets (T 1,4; C 16,32) and a score graph. Two real
    random adapters for each (f32 and f16 files)."""
    bases = [os.path.join(work, "lora-base.mote"), os.path.join(work, "lora-w4-buckets.mote")]
    common = [motec, "compile", stories(), "-q", "--context", "32", "--prefill-tokens", "8",
              "--lora-max-rank", "4"]
    run(common + ["-o", bases[0]])
    run(common + ["--weights", "w4", "--buckets", "prefill=1,4:context=16,32", "--score-graph",
                  "-o", bases[1]])
    env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE, "toolkit"),
               PYTHONDONTWRITEBYTECODE="1")
    files = []
    for tag, extra in (("some", ["--targets", "q,v,down", "--layers", "0,3", "--rank", "4"]),
                       ("all", ["--rank", "2", "--rslora", "--seed", "3"])):
        d = os.path.join(work, f"peft-{tag}")
        run([PYTHON, "-m", "mote_lora.random_adapter", stories(), "--out", d, *extra], env=env)
        for bi, base in enumerate(bases):
            for dt in ("f32", "f16"):
                out = os.path.join(work, f"{tag}-base{bi}-{dt}.mote-lora")
                run([motec, "adapter", d, "--base", base, "-o", out, "-q", "--dtype", dt])
                files.append(out)
    for f in files:
        shutil.copy(f, os.path.join(corpus, os.path.basename(f)))
    data = open(files[0], "rb").read()
    for n in (0, 8, 63, 64, 65, 200, len(data) // 2, len(data) - 1):
        seed(corpus, f"trunc_{n}", data[:n])
    return ({"MOTE_FUZZ_BASE": ":".join(bases), "MOTE_ACTIVATIONS": ""},
            max(os.path.getsize(f) for f in files) + 4096)


def prepare_tokenizer(motec, work, corpus):
    """stories260K's tok512 and the Llama 2 SentencePiece tokenizer (32000
    pieces, on a tiny random-weight model made only to carry it)."""
    b1 = os.path.join(work, "tok512.mote")
    run([motec, "compile", stories(), "-q", "--context", "16", "-o", b1])
    llama2 = os.path.join(MODELS, "llama2-tokenizer", "tokenizer.model")
    if not os.path.exists(llama2):
        skip(f"{llama2} missing")
    hf = os.path.join(work, "llama2-vocab-hf")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import gen_random_model as g; "
            "g.PRESETS['fuzz-llama2-vocab'] = ('llama', 16, 32, 1, 2, 2, 8, 32000, 16, True, "
            "10000.0, 1e-5, 0.02); g.generate('fuzz-llama2-vocab', sys.argv[2], "
            "tokenizer=sys.argv[3])")
    run([PYTHON, "-c", code, os.path.join(SOURCE, "toolkit"), hf, llama2])
    b2 = os.path.join(work, "llama2-vocab.mote")
    run([motec, "compile", hf, "-q", "-o", b2])
    texts = [b"Once upon a time, there was a little girl named Lily.",
             b"", b" ", b"   two  spaces   ", b"\n\ttabs\r\n", b"a\x00b",
             "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 \u0410\u0411".encode(),
             b"\xff\xfe bad \xc0\x80 overlong \xed\xa0\x80 surrogate \xf4\x90\x80\x80",
             b"\xe2\x96\x81 escaped space", b"<s> </s> <unk> <0x41>",
             b"x" * 300, "\u2581\u2581".encode() + b"  ", b"1234567890 3.14159"]
    inp = os.path.join(SHARED, "tokenizers", "ggml-vocab-llama-spm.gguf.inp")
    if os.path.exists(inp):
        texts += [t.encode() for t in
                  open(inp, encoding="utf-8").read().split("\n__ggml_vocab_test__\n")[:40]]
    valid = os.path.join(SHARED, "data", "tinystories-valid.txt")
    if os.path.exists(valid):
        with open(valid, "rb") as f:
            texts += [line.rstrip(b"\n") for line in f.read(20000).split(b"\n")[:20]]
    for i, t in enumerate(texts):
        for sel in range(6):  # both bundles x add_bos -1/0/1
            seed(corpus, f"text_{i}_{sel}", bytes([(sel % 2) | ((sel // 2) << 2)]) + t)
    return {"MOTE_FUZZ_TOK_BUNDLES": f"{b1}:{b2}"}, 4096


def prepare_session(motec, work, corpus):
    """stories260K with a 48-token context and 8-token prefill, a bucketed
    one (T 1,4,16; C 32,64) with a score graph, and a w4 one with an 8-bit
    KV cache (int8 activations)."""
    b1 = os.path.join(work, "plain.mote")
    run([motec, "compile", stories(), "-q", "--context", "48", "--prefill-tokens", "8",
         "-o", b1])
    b2 = os.path.join(work, "buckets.mote")
    run([motec, "compile", stories(), "-q", "--context", "64", "--prefill-tokens", "16",
         "--buckets", "prefill=1,4,16:context=32,64", "--score-graph", "-o", b2])
    b3 = os.path.join(work, "w4-kvq8.mote")
    run([motec, "compile", stories(), "-q", "--context", "40", "--prefill-tokens", "8",
         "--weights", "w4", "--kv-dtype", "q8", "-o", b3])
    # Op bytes (fuzz_session.c): 0 prefill n ids.., 1 decode id, 2 score n ids..,
    # 3 reset, 4 policy p, 5 bucket cost, 6 plan, 7 sampler, 9 re-create, 10 decode run.
    ids = lambda n: bytes([0, 5] * n)  # noqa: E731
    seeds = {
        "prefill_decode": bytes([0, 0, 0, 5]) + ids(5) + bytes([1, 0, 7, 7, 1, 0, 1, 10, 60]),
        "past_context": bytes([0, 8, 0, 40]) + ids(40) + bytes([10, 20, 1, 0, 9, 3, 2, 3]) + ids(3),
        "bad_ids": bytes([0, 0, 0, 3, 250, 251, 0, 9, 1, 252, 1, 253, 2, 2, 255, 7, 254]),
        "buckets": bytes([1, 0, 4, 0, 0, 37]) + ids(37) + bytes([4, 2, 0, 19]) + ids(19) +
        bytes([5, 1, 0, 6, 0, 30, 10, 4, 1, 0, 3]) + ids(3) + bytes([2, 9]) + ids(9),
        "bucket_short_ctx": bytes([1, 20, 0, 17]) + ids(17) + bytes([6, 0, 3, 5, 1, 10, 30]),
        "sampler": bytes([0, 0, 0, 2]) + ids(2) + bytes([7, 0x12, 5, 9, 7, 0x85, 3, 3] + [1] * 64),
        "threads": bytes([1, 0x40, 0, 70]) + ids(70) + bytes([10, 5, 9, 1, 0]),
    }
    for k, v in seeds.items():
        seed(corpus, k, v)
        seed(corpus, k + "_w4", bytes([2]) + v[1:])
    # The harness picks the bundle with byte 0 (mod 3); MOTE_ACTIVATIONS=f32
    # from ctest's environment would hide the int8 path.
    return {"MOTE_FUZZ_SESSION_BUNDLES": f"{b1}:{b2}:{b3}", "MOTE_ACTIVATIONS": ""}, 1024


def main():
    args = [a for a in sys.argv[1:] if a != "--prepare-only"]
    if len(args) not in (3, 4) or args[0] not in ("adapter", "tokenizer", "session"):
        sys.exit(__doc__)
    kind = args[0]
    fuzzer, work = os.path.abspath(args[1]), os.path.abspath(args[2])
    seconds = int(os.environ.get("MOTE_FUZZ_SECONDS") or (args[3] if len(args) > 3 else 20))
    if not os.access(fuzzer, os.X_OK):
        skip(f"{fuzzer} not built (scripts/test.sh builds build-fuzz)")
    if not os.path.isdir(MODELS):
        skip(f"no models folder {MODELS}")
    motec = find_motec()
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    env, max_len = globals()[f"prepare_{kind}"](motec, work, corpus)
    cmd = [fuzzer, f"-max_total_time={seconds}", "-rss_limit_mb=2048",
           f"-max_len={max_len}", "-timeout=30", "-print_final_stats=1", corpus]
    if "--prepare-only" in sys.argv:
        print(" ".join(f"{k}={v}" for k, v in env.items()) + " " + " ".join(cmd))
        return
    sys.stdout.flush()
    # libFuzzer writes crash-*/leak-* files into the working directory.
    # fuzz_adapter's scratch file goes to TMPDIR: keep it in WORKDIR too.
    r = subprocess.run(cmd, env=dict(os.environ, TMPDIR=os.path.abspath(work), **env),
                       cwd=work)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
