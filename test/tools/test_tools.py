#!/usr/bin/python3
"""test_tools.py: end-to-end checks of mote-run and mote-bench (one case per ctest).

Usage: test_tools.py CASE. Environment (from MOTE_TEST_ENV): MOTE_BIN,
MOTE_MODELS, MOTE_BUILD, CI. The bundle is compiled once from stories260K
with motec (under a file lock, so parallel ctest runs share it).
Exit 77 = skipped (a missing model or package), never when CI=true.
"""
import fcntl
import json
import os
import struct
import subprocess
import sys

SKIP = 77
BIN = os.environ.get("MOTE_BIN", "")
MODELS = os.environ.get("MOTE_MODELS", "")
BUILD = os.environ.get("MOTE_BUILD", "")
CI = os.environ.get("CI", "").lower() == "true"
PROMPT = "Once upon a time"
# PROVENANCE.md: stories260K's greedy continuation of PROMPT (BOS prepended).
GROUND_TRUTH = "Once upon a time, there was a little girl named Lily"


def skip_or_fail(why):
    if CI:
        print("FAIL (CI=true, so no skipping): " + why)
        sys.exit(1)
    print("SKIP: " + why)
    sys.exit(SKIP)


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def tool(name):
    return os.path.join(BIN, name)


def run(args, expect_rc=0):
    p = subprocess.run(args, capture_output=True, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if expect_rc is not None and p.returncode != expect_rc:
        print("FAIL: %s exited %d, expected %d\nstdout: %s\nstderr: %s"
              % (" ".join(args), p.returncode, expect_rc, out[:2000], err[:2000]))
        sys.exit(1)
    return p.returncode, out, err


def model_file(*parts):
    path = os.path.join(MODELS, *parts)
    if not os.path.exists(path):
        skip_or_fail("missing model file " + path)
    return path


def bundle():
    """stories260K.mote, compiled by motec when missing or stale."""
    src = model_file("stories260K", "stories260K.bin")
    motec = tool("motec")
    if not os.path.exists(motec):
        skip_or_fail("motec not built at " + motec)
    out_dir = os.path.join(BUILD or os.getcwd(), "test", "tools")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "stories260K.mote")
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max(os.path.getmtime(src), os.path.getmtime(motec))
        if not os.path.exists(out) or os.path.getmtime(out) < newest:
            run([motec, "compile", src, "-o", out])
    return out


def sentencepiece_model():
    try:
        import sentencepiece  # noqa: F401 (only checking it imports)
    except ImportError:
        skip_or_fail("python sentencepiece is not installed")
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor()
    sp.Load(model_file("stories260K", "tok512.model"))
    return sp


def ids_of(line):
    return [int(x) for x in line.split()]


# ---------------------------------------------------------------------------
# mote-run
# ---------------------------------------------------------------------------

def case_run_bad_flags():
    """Usage errors exit 2 before anything is opened; a bad file exits 1."""
    mr = tool("mote-run")
    fake = "/nonexistent/model.mote"
    for args in (["--bogus", fake], [], [fake, "-n"], [fake, "-n", "x"],
                 [fake, "-n", "-3"], [fake, "--temp", "-1"],
                 [fake, "--top-p", "0"], [fake, "--top-p", "1.5"],
                 [fake, "--top-k", "2.5"], [fake, "--threads", "many"],
                 [fake, "--seed", "1x"], [fake, fake],
                 [fake, "-p", "a", "--ids", "1 2"], [fake, "--context=-1"]):
        rc, _, err = run([mr] + args, expect_rc=None)
        check(rc == 2 and err.startswith("mote-run: "),
              "mote-run %s -> exit 2 (got %d)" % (" ".join(args), rc))
    rc, out, _ = run([mr, "--help"])
    check("usage: mote-run" in out, "--help prints usage on stdout")
    rc, out, err = run([mr, fake, "-p", "hi"], expect_rc=1)
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("mote-run: error: " + fake + ": "),
          "missing bundle -> one 'mote-run: error: FILE: ...' line, exit 1")


def case_run_greedy():
    rc, out, err = run([tool("mote-run"), bundle(), "-p", PROMPT, "-n", "64",
                        "--temp", "0"])
    print("stdout: " + out)
    check(out.startswith(GROUND_TRUTH), "greedy text matches PROVENANCE.md")
    check("TTFT" in err and "decode" in err and "prompt tokens" in err,
          "statistics on stderr")
    check("tok/s" not in out, "stdout holds only the text")


def case_run_tokenize():
    sp = sentencepiece_model()
    b = bundle()
    prompts = [PROMPT, "Hello, world! 123", "Lily's dog ran  fast.\nThe end",
               "caf\u00e9 \u2603 \u4e16"]
    for text in prompts:
        want = [sp.bos_id()] + sp.EncodeAsIds(text)
        _, out, _ = run([tool("mote-run"), b, "-p", text, "--tokenize"])
        check(ids_of(out) == want, "--tokenize %r == sentencepiece %s" % (text, want))
        _, out, _ = run([tool("mote-run"), b, "-p", text, "--tokenize", "--no-bos"])
        check(ids_of(out) == want[1:], "--tokenize --no-bos %r" % text)


def case_run_ids():
    """--print-ids, --ids and the streamed text agree with sentencepiece."""
    sp = sentencepiece_model()
    b, mr = bundle(), tool("mote-run")
    _, out, _ = run([mr, b, "-p", PROMPT, "--tokenize"])
    prompt_ids = ids_of(out)
    _, out, _ = run([mr, b, "-p", PROMPT, "-n", "40", "--print-ids"])
    gen = ids_of(out)
    check(len(gen) > 0 and all(0 <= i < 512 for i in gen), "--print-ids gives ids")
    _, text, _ = run([mr, b, "-p", PROMPT, "-n", "40"])
    want = sp.DecodeIds(prompt_ids + gen)
    check(text[:-1] == want, "streamed text == sentencepiece decode")
    _, out2, _ = run([mr, b, "--ids", " ".join(map(str, prompt_ids)), "-n", "40",
                      "--print-ids"])
    check(ids_of(out2) == gen, "--ids gives the same continuation")
    # A small KV cache stops generation quietly once it is full.
    ctx = len(prompt_ids) + 3
    _, out3, _ = run([mr, b, "-p", PROMPT, "-n", "40", "--print-ids",
                      "--context", str(ctx)])
    check(ids_of(out3) == gen[:4], "--context %d stops after 4 tokens" % ctx)


def read_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    return list(struct.unpack("<%df" % (len(data) // 4), data)), len(data)


def case_run_dump_logits():
    b, mr = bundle(), tool("mote-run")
    tmp = os.path.join(os.path.dirname(b), "dump_%d" % os.getpid())
    _, out, _ = run([mr, b, "-p", PROMPT, "--tokenize"])
    n = len(ids_of(out))
    _, gen, _ = run([mr, b, "-p", PROMPT, "-n", "1", "--print-ids",
                     "--dump-logits", tmp + ".last"])
    last, nbytes = read_f32(tmp + ".last")
    check(nbytes == 512 * 4, "prefill dump is 1 x vocab f32")
    check(max(range(512), key=lambda i: (last[i], -i)) == ids_of(gen)[0],
          "argmax of the dump is the greedy token")
    _, gen2, _ = run([mr, b, "-p", PROMPT, "-n", "1", "--print-ids", "--step",
                      "--dump-logits", tmp + ".step"])
    steps, nbytes = read_f32(tmp + ".step")
    check(nbytes == n * 512 * 4, "--step dump is n_prompt x vocab f32")
    diff = max(abs(a - c) for a, c in zip(steps[(n - 1) * 512:], last))
    check(diff < 1e-3, "step-wise last row == prefill logits (max diff %g)" % diff)
    check(ids_of(gen2) == ids_of(gen), "same greedy token either way")
    for suffix in (".last", ".step"):
        os.remove(tmp + suffix)


def case_run_sampling():
    b, mr = bundle(), tool("mote-run")
    base = [mr, b, "-p", PROMPT, "-n", "60", "--temp", "1.0"]
    _, a, _ = run(base + ["--seed", "42"])
    _, a2, _ = run(base + ["--seed", "42"])
    _, c, _ = run(base + ["--seed", "4242"])
    check(a == a2, "same seed -> same text")
    check(a != c, "different seed -> different text")
    check(a.startswith(PROMPT), "sampled text starts with the prompt")
    _, k1, _ = run(base + ["--seed", "7", "--top-k", "1"])
    _, greedy, _ = run([mr, b, "-p", PROMPT, "-n", "60"])
    check(k1 == greedy, "--top-k 1 == greedy")
    _, p1, _ = run(base + ["--seed", "9", "--top-p", "0.9", "--top-k", "40"])
    check(p1.startswith(PROMPT), "top-k + top-p sampling runs")


# ---------------------------------------------------------------------------
# mote-bench
# ---------------------------------------------------------------------------

BENCH_FIELDS = {
    "mote_version": str, "model": str, "arch": str, "cpu_model": str,
    "kernel_isa": str, "vocab_size": int, "context": int, "bundle_bytes": int,
    "weight_bytes_per_token": int, "kv_bytes_per_token": int,
    "peak_rss_bytes": int, "bundle_resident_bytes": (int, type(None)),
    "bundle_huge_page_bytes": (int, type(None)), "prompt_tokens": int, "gen_tokens": int,
    "warmup": int, "reps": int, "results": list, "bandwidth": list,
}
ROW_FIELDS = ("threads", "prefill_tok_per_s", "ttft_ms", "decode_tok_per_s",
              "bandwidth_gb_per_s", "roofline_fraction", "roofline_fraction_kv",
              "bandwidth_4k_gb_per_s", "roofline_fraction_pages")


def check_bench_pages(j, r, mapped):
    """The mapped bundle's pages and the page-aware roof (docs/mote-bench.md):
    its huge-mapped share of the weights at the huge-page probe's rate, the
    rest at the 4 KiB probe's."""
    res, huge = j["bundle_resident_bytes"], j["bundle_huge_page_bytes"]
    if not mapped:
        check(res is None and huge is None and r["roofline_fraction_pages"] is None,
              "--read: no mapping, no page-aware roof")
        return
    if not sys.platform.startswith("linux"):
        return
    check(isinstance(res, int) and isinstance(huge, int) and 0 < res
          and 0 <= huge <= res, "mapped bundle's pages: %s of %s" % (huge, res))
    if r["bandwidth_gb_per_s"] is None:
        check(r["roofline_fraction_pages"] is None, "no probe -> null")
        return
    check(r["bandwidth_4k_gb_per_s"] > 0.1, "4 KiB probe sane: %s" % r)
    h = huge / res
    secs = j["weight_bytes_per_token"] * (h / r["bandwidth_gb_per_s"]
                                          + (1 - h) / r["bandwidth_4k_gb_per_s"]) / 1e9
    want = r["decode_tok_per_s"] * secs
    check(abs(r["roofline_fraction_pages"] - want) <= 1e-3 * want + 1e-5,
          "roofline_fraction_pages = decode x page-weighted seconds: %s vs %s" % (r, want))


def check_bench_json(j, b, probed, mapped=True):
    for k, t in BENCH_FIELDS.items():
        check(k in j and isinstance(j[k], t), "field %s (%s)" % (k, t))
    check(j["bundle_bytes"] == os.path.getsize(b), "bundle_bytes == file size")
    check(j["peak_rss_bytes"] > 0 and j["weight_bytes_per_token"] > 0
          and j["kv_bytes_per_token"] > 0, "sizes positive")
    check(j["kernel_isa"] in ("avx512vnni", "avxvnni", "avx2", "neon", "ref"), "kernel_isa known")
    check([r["threads"] for r in j["results"]] == [1, 2], "one row per thread count")
    for r in j["results"]:
        check(all(k in r for k in ROW_FIELDS), "row fields")
        check(r["prefill_tok_per_s"] > 0 and r["decode_tok_per_s"] > 0
              and r["ttft_ms"] > 0, "positive speeds (%d threads)" % r["threads"])
        if probed:
            check(r["bandwidth_gb_per_s"] > 0.1 and r["roofline_fraction"] > 0,
                  "bandwidth and roofline sane: %s" % r)
            # The KV cache's reads only add bytes: mean cached rows x KV bytes.
            kv = (j["prompt_tokens"] + (j["gen_tokens"] + 1) / 2.0) * j["kv_bytes_per_token"]
            want = r["roofline_fraction"] * (1 + kv / j["weight_bytes_per_token"])
            check(abs(r["roofline_fraction_kv"] - want) <= 1e-4 * want + 1e-5,
                  "roofline_fraction_kv = weights + KV read: %s vs %s" % (r, want))
        else:
            check(r["bandwidth_gb_per_s"] is None and r["roofline_fraction"] is None
                  and r["roofline_fraction_kv"] is None
                  and r["bandwidth_4k_gb_per_s"] is None, "no probe -> nulls")
        check_bench_pages(j, r, mapped)
    check((len(j["bandwidth"]) >= 2) == probed, "bandwidth list")
    for p in j["bandwidth"]:
        check(p["gb_per_s"] > 0.1 and p["gb_per_s_4k"] > 0.1, "both probes ran: %s" % p)


def case_bench_json():
    b, mb = bundle(), tool("mote-bench")
    args = [mb, b, "--json", "--threads", "1,2", "--prompt-tokens", "32",
            "--gen-tokens", "16", "--reps", "2"]
    _, out, _ = run(args)
    check_bench_json(json.loads(out), b, probed=True)
    _, out, _ = run(args + ["--no-bandwidth"])
    check_bench_json(json.loads(out), b, probed=False)
    _, out, _ = run(args + ["--no-bandwidth", "--read"])
    check_bench_json(json.loads(out), b, probed=False, mapped=False)


def case_bench_table():
    b, mb = bundle(), tool("mote-bench")
    _, out, _ = run([mb, b, "--prompt-tokens", "16", "--gen-tokens", "8",
                     "--reps", "1", "--no-bandwidth"])
    check("prefill" in out and "decode" in out and "peak RSS" in out, "table")
    check(sys.platform != "linux" or "in huge pages" in out, "table: the mapping's pages")
    for args in (["--bogus"], [b, "--threads", "1,x"], [b, "--reps", "0"],
                 [b, "--prompt-tokens"], [b, "--gen-tokens", "-1"], []):
        rc, _, _ = run([mb] + args, expect_rc=None)
        check(rc == 2, "mote-bench %s -> exit 2" % " ".join(args))
    rc, _, _ = run([mb, b, "--prompt-tokens", "100000", "--gen-tokens", "1"],
                   expect_rc=None)
    check(rc == 2, "prompt longer than the context -> exit 2")


if __name__ == "__main__":
    if len(sys.argv) != 2 or "case_" + sys.argv[1] not in globals():
        print("usage: test_tools.py CASE")
        sys.exit(2)
    globals()["case_" + sys.argv[1]]()
