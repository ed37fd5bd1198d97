#!/usr/bin/python3
"""End to end with a byte-level BPE: a tiny random-weight Llama whose vocab is
Llama 3's (128256 rows, dim 16), once with Meta's tiktoken tokenizer.model
and once with the equivalent tokenizer.json, compiled by motec; mote-run
--tokenize must give llama.cpp's ids (BOS first), the ids must decode back
to the prompt, and generated tokens must stream as their raw bytes. Then a
Hugging Face dir with a bad tokenizer.json must fail with one line and no
output file.

  bbpe_e2e.py WORKDIR     (MOTE_BIN, MOTE_SHARED from ctest)
"""
import base64
import json
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "toolkit"))
import gguf_vocab  # noqa: E402
import gen_random_model as grm  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "badinput"))
import badinput  # noqa: E402  (xxh64, rehash_header, SANITIZER_MARKS)

# arch, dim, hidden, layers, heads, kv_heads, head_dim, vocab, max_pos, tied,
# rope_theta, rms_eps, std
TINY = ("llama", 16, 32, 1, 2, 1, 8, 128256, 128, True, 500000.0, 1e-5, 0.5)


def need(ok, what):
    if not ok:
        print("missing: " + what)
        sys.exit(1 if os.environ.get("CI") == "true" else 77)


def run(cmd, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if check and p.returncode != 0:
        print("FAILED %s\n%s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
        sys.exit(1)
    return p


def make_model(out, tokenizer_files):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    grm.write_weights(os.path.join(out, "model.safetensors"), grm.tensor_specs(TINY),
                      TINY[12], "f32", 3)
    cfg = grm.config_json("tiny-llama3-vocab", TINY, "f32")
    cfg.update(bos_token_id=128000, eos_token_id=128001)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name, src in tokenizer_files.items():
        shutil.copyfile(src, os.path.join(out, name))
    return out


def hostile_bundles(work, mrun, good_path):
    """Same-size edits of the byte-bpe fields (checksums fixed) must be
    rejected with one line; seeded byte flips inside the tokenizer message
    must never crash."""
    import random
    with open(good_path, "rb") as f:
        good = f.read()
    moff, mlen = struct.unpack_from("<QQ", good, 16)
    man = good[moff:moff + mlen]

    def build(edit_at, old, new):
        i = man.find(old)
        assert i >= 0 and len(old) == len(new), old
        b = bytearray(good)
        b[moff + i:moff + i + len(old)] = new
        return b

    def seal(b):
        b[32:40] = struct.pack("<Q", badinput.xxh64(bytes(b[moff:moff + mlen])))
        badinput.rehash_header(b)
        return b

    def try_run(b, name):
        p = os.path.join(work, "hostile.mote")
        with open(p, "wb") as f:
            f.write(bytes(seal(b)))
        r = subprocess.run([mrun, p, "-p", "hi", "-n", "1"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stderr.decode(errors="replace").strip()

    n_bad = 0
    # 0xF2 0x01 = field 30 (ranks), length-delimited; 0xEA 0x01 = field 29.
    cases = [("pre-tokenizer", b"\xfa\x01\x06llama3", b"\xfa\x01\x06llamaX",
              "unknown pre-tokenizer"),
             ("kind", b"\x0a\x08byte-bpe", b"\x0a\x08byte-bpX", "tokenizer"),
             ("ranks missing", b"\xf2\x01", b"\xea\x01", "0 ranks")]
    for name, old, new, needle in cases:
        rc, err = try_run(build(None, old, new), name)
        ok = rc not in (0, None) and 0 < rc < 128 and needle in err and len(err.split("\n")) == 1
        print("hostile bundle %-14s rc=%d %s%s" % (name, rc, err[:120], "" if ok else " <-- BAD"))
        n_bad += not ok
    # Byte flips inside the tokenizer message (field 4 of the manifest).
    start = man.find(b"\x0a\x08byte-bpe")
    rng = random.Random(99)
    crashes = 0
    for k in range(40):
        b = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            b[moff + start + rng.randrange(min(4096, mlen - start))] = rng.randrange(256)
        rc, err = try_run(b, "flip")
        if rc < 0 or rc >= 128 or any(m in err for m in badinput.SANITIZER_MARKS):
            crashes += 1
            print("hostile bundle flip #%d: rc %d %s" % (k, rc, err[-300:]))
    print("hostile bundle flips: 40 mutants, %d crashes" % crashes)
    return n_bad + crashes


def main(argv):
    work = argv[1]
    bindir = os.environ.get("MOTE_BIN", "")
    motec, mrun = os.path.join(bindir, "motec"), os.path.join(bindir, "mote-run")
    tok = os.path.join(os.environ.get("MOTE_SHARED", ""), "tokenizers", "llama3",
                       "tokenizer.model")
    inp = os.path.join(os.environ.get("MOTE_SHARED", ""), "tokenizers",
                       "ggml-vocab-llama-bpe.gguf")
    for p in (motec, mrun, tok, inp + ".inp", inp + ".out"):
        need(os.path.exists(p), p)
    os.makedirs(work, exist_ok=True)
    tj = os.path.join(work, "tokenizer.json")
    with open(tj, "w", encoding="utf-8") as f:
        json.dump(gguf_vocab.tiktoken_to_json(tok), f, ensure_ascii=False)
    token_bytes = {}
    with open(tok) as f:
        for line in f:
            b, r = line.split()
            token_bytes[int(r)] = base64.b64decode(b)

    def decode(ids):  # special tokens (>= 128000) decode to nothing
        return b"".join(token_bytes.get(i, b"") for i in ids)

    with open(inp + ".inp", "rb") as f:
        tests = f.read().split(b"\n__ggml_vocab_test__\n")[:-1]
    with open(inp + ".out") as f:
        expected = [[int(x) for x in l.split()] for l in f.read().split("\n")[:-1]]
    # Prompts mote-run can take as one argv string (no NUL, not empty).
    cases = [(t, e) for t, e in zip(tests, expected) if t and b"\0" not in t][::3]
    cases.append(("héllo <|eot_id|> wörld".encode(), None))
    bad = 0
    for label, files in (("tiktoken", {"tokenizer.model": tok}),
                         ("tokenizer.json", {"tokenizer.json": tj, "tokenizer.model": tok})):
        src = make_model(os.path.join(work, "model-" + label.replace(".", "-")), files)
        bundle = os.path.join(work, label.replace(".", "-") + ".mote")
        run([motec, "compile", src, "-o", bundle, "-q"])
        info = run([motec, "inspect", bundle]).stdout.decode()
        if "tokenizer: byte-bpe, 128256 pieces (bos 128000, eos 128001)" not in info:
            print("%s: motec inspect says %r" % (label, [l for l in info.split("\n")
                                                         if "tokenizer" in l]))
            bad += 1
        for text, want in cases:
            ids = [int(x) for x in run([mrun, bundle, "-p", text, "--tokenize"]).stdout.split()]
            if want is not None and ids != [128000] + want:
                bad += 1
                print("%s: --tokenize %r\n  got  %s\n  want %s" % (label, text[:60], ids,
                                                                  [128000] + want))
            want_text = text.replace(b"<|eot_id|>", b"")
            if decode(ids) != want_text or (want is None and 128009 not in ids):
                bad += 1
                print("%s: %r does not round trip: %r" % (label, text[:60], decode(ids)[:60]))
        prompt = "The quick brown fox"
        gen = run([mrun, bundle, "-p", prompt, "-n", "12", "--temp", "0", "--print-ids"])
        gen_ids = [int(x) for x in gen.stdout.split()]
        text = run([mrun, bundle, "-p", prompt, "-n", "12", "--temp", "0"]).stdout
        if text.endswith(b"\n"):  # mote-run ends the stream with a newline
            text = text[:-1]
        if len(gen_ids) != 12 or text != prompt.encode() + decode(gen_ids):
            bad += 1
            print("%s: streamed text %r != prompt + decode(%s)" % (label, text[:80], gen_ids))
        print("%s: %d prompts tokenized and round-tripped, 12 tokens streamed" %
              (label, len(cases)))

    bad += hostile_bundles(work, mrun, os.path.join(work, "tiktoken.mote"))

    # A Hugging Face dir whose tokenizer.json is not byte-level BPE.
    badj = json.load(open(tj, encoding="utf-8"))
    badj["model"]["type"] = "Unigram"
    src = make_model(os.path.join(work, "model-bad"), {})
    with open(os.path.join(src, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(badj, f)
    out = os.path.join(work, "bad.mote")
    if os.path.exists(out):
        os.remove(out)
    p = run([motec, "compile", src, "-o", out, "-q"], check=False)
    err = p.stderr.decode(errors="replace").strip()
    if p.returncode == 0 or os.path.exists(out) or len(err.split("\n")) != 1 or \
            "tokenizer.json: model.type: 'Unigram'" not in err:
        bad += 1
        print("bad tokenizer.json: rc %d, output %s, stderr %r" % (p.returncode,
                                                                  os.path.exists(out), err))
    else:
        print("bad tokenizer.json: %s" % err)
    print("bbpe e2e: %d failures" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
