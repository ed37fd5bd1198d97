#!/usr/bin/python3
"""Byte-level BPE checks (through bbpe_tool; docs/tokenizers.md).

  bbpe_check.py TOOL WORKDIR llama3   Meta's tiktoken tokenizer.model vs llama.cpp's
                                      llama-bpe vectors, a naive BPE, round trips
  bbpe_check.py TOOL WORKDIR gguf     tokenizer.json built from GGUF vocabularies
                                      (gpt-2, mpt) vs llama.cpp's vectors
  bbpe_check.py TOOL WORKDIR pretok   the hand-written pre-tokenizers vs Python's
                                      `re` running the two regexes on random text
  bbpe_check.py TOOL WORKDIR bad      hostile tiktoken / tokenizer.json files
Expected values come from the reference files or are computed here; with
CI=true a missing file is a failure (exit 1), otherwise a skip (77).
"""
import base64
import json
import os
import random
import re
import struct
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_vocab  # noqa: E402

SKIP = 77


def need(ok, what):
    if not ok:
        print("missing: " + what)
        sys.exit(1 if os.environ.get("CI") == "true" else SKIP)


def shared(*parts):
    return os.path.join(os.environ.get("MOTE_SHARED", ""), "tokenizers", *parts)


def records(texts):
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


def run(tool, args, stdin=b""):
    return subprocess.run([tool] + args, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)


def encode(tool, path, texts):
    p = run(tool, ["encode", path], records(texts))
    if p.returncode != 0:
        print("tool failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
        sys.exit(1)
    rows = []
    for line in p.stdout.decode().split("\n")[:-1]:
        if line.startswith("ERR"):
            rows.append((line, b"", b""))
            continue
        ids, dec, stream = line.split("|")
        rows.append(([int(x) for x in ids.split()], bytes.fromhex(dec), bytes.fromhex(stream)))
    if len(rows) != len(texts):
        print("tool answered %d of %d inputs" % (len(rows), len(texts)))
        sys.exit(1)
    return rows


def ggml_vectors(name):
    inp, out = shared(name + ".inp"), shared(name + ".out")
    need(os.path.exists(inp) and os.path.exists(out), inp)
    with open(inp, "rb") as f:
        tests = f.read().split(b"\n__ggml_vocab_test__\n")
    if tests and tests[-1] == b"":
        tests.pop()
    with open(out) as f:
        expected = [[int(x) for x in l.split()] for l in f.read().split("\n")[:-1]]
    assert len(tests) == len(expected), (len(tests), len(expected))
    return tests, expected


def check_vectors(tool, path, name):
    tests, expected = ggml_vectors(name)
    bad = 0
    for text, row, want in zip(tests, encode(tool, path, tests), expected):
        ok = row[0] == want and row[1] == text
        if not ok:
            bad += 1
            print("MISMATCH %r\n  got  %s\n  want %s\n  decode %r" % (text[:80], row[0], want,
                                                                      row[1][:80]))
    print("%s: %d/%d vectors pass (ids and decode round trip)" % (name, len(tests) - bad,
                                                                   len(tests)))
    return bad


def tricky():
    cases = ["", " ", "\n", "Hello world", "I'm 'S 'RE can't", "x" * 2000, " " * 300 + "y",
             "日本語のテキスト", "emoji 🦙🚀 👨‍👩‍👧", "1234567 89", "\r\n\r\n  \t\n",
             "Привет мир", "e\u0301", "\u00a0\u2028\u3000", "<|begin_of_text|>",
             "a<|eot_id|>b<|start_header_id|>user<|end_header_id|>",
             "<|notspecial|> <|begin_of_text|", "<|reserved_special_token_247|>"]
    blobs = [c.encode() for c in cases]
    blobs += [b"\xff", b"a\x80b", b"\xe4\xb8", b"\xc0\xaf", b"\xed\xa0\x80",
              b"\xf4\x90\x80\x80", b"tail\xc3", b"\xc3\x28 x", bytes(range(256))]
    return blobs


def naive_bpe(ranks, piece):
    """tiktoken's byte pair merge, written the slow obvious way."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]


def pretok(tool, pre, texts):
    p = run(tool, ["pretok", pre], records(texts))
    if p.returncode != 0:
        print("pretok failed: %s" % p.stderr.decode(errors="replace"))
        sys.exit(1)
    return [[int(x) for x in l.split()] for l in p.stdout.decode().split("\n")[:-1]]


def cmd_llama3(tool, work):
    model = shared("llama3", "tokenizer.model")
    need(os.path.exists(model), model)
    bad = check_vectors(tool, model, "ggml-vocab-llama-bpe.gguf")
    # The same vocabulary as Hugging Face's tokenizer.json (merges from ranks,
    # the Llama 3 Split regex): the JSON path must give the same ids.
    tj = os.path.join(work, "llama3-tokenizer.json")
    with open(tj, "w", encoding="utf-8") as f:
        json.dump(gguf_vocab.tiktoken_to_json(model), f, ensure_ascii=False)
    bad += check_vectors(tool, tj, "ggml-vocab-llama-bpe.gguf")
    summary = run(tool, ["load", tj]).stdout.decode()
    print(summary.strip())
    if "tokens 128256 bos 128000 eos 128001 add_bos 1 pre llama3 ignore_merges 1" not in summary:
        print("unexpected tokenizer.json import summary")
        bad += 1
    p = run(tool, ["load", model])
    summary = p.stdout.decode()
    print(summary.strip())
    if "tokens 128256 bos 128000 eos 128001 add_bos 1 pre llama3" not in summary:
        print("unexpected import summary")
        bad += 1
    ranks = {}
    with open(model) as f:
        for line in f:
            tok, r = line.split()
            ranks[base64.b64decode(tok)] = int(r)
    texts = tricky()
    story = os.path.join(os.environ.get("MOTE_SHARED", ""), "data", "tinystories-valid.txt")
    if os.path.exists(story):
        with open(story, "rb") as f:
            texts += [l for l in f.read(60000).split(b"\n") if l.strip()][:150]
    rows = encode(tool, model, texts)
    splits = pretok(tool, "llama3", texts)
    specials = {b"<|begin_of_text|>": 128000, b"<|eot_id|>": 128009,
                b"<|start_header_id|>": 128006, b"<|end_header_id|>": 128007,
                b"<|reserved_special_token_247|>": 128255}
    n_naive = 0
    for text, row, ends in zip(texts, rows, splits):
        ids, dec, stream = row
        controls = [i for i in ids if i >= 128000] if isinstance(ids, list) else []
        want_dec = text
        for s in specials:
            want_dec = want_dec.replace(s, b"")
        if isinstance(ids, str) or dec != want_dec or stream != want_dec:
            bad += 1
            print("ROUND TRIP %r: %r -> %r" % (text[:60], ids if isinstance(ids, str) else "",
                                               dec[:60]))
            continue
        if any(s in text for s in specials):
            want = [specials[s] for s in re.findall(rb"<\|[a-z_0-9]+\|>", text) if s in specials]
            if controls != want:
                bad += 1
                print("SPECIALS %r: %s want %s" % (text, controls, want))
            continue
        # Without specials: each pre-token must merge as the naive BPE does.
        want, prev = [], 0
        for e in ends:
            piece = text[prev:e]
            want += [ranks[piece]] if piece in ranks else naive_bpe(ranks, piece)
            prev = e
        n_naive += 1
        if ids != want:
            bad += 1
            print("NAIVE BPE %r\n  got  %s\n  want %s" % (text[:60], ids[:40], want[:40]))
    print("llama3: %d texts round trip, %d vs naive BPE, %d failures" % (len(texts), n_naive, bad))
    return bad


def naive_pair_bpe(merge_rank, vocab, word):
    """Hugging Face's BPE (a rank per merge PAIR), the slow obvious way:
    merge the leftmost lowest-ranked adjacent pair until none is a merge."""
    parts = list(word)
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = merge_rank.get((parts[i], parts[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [vocab[p] for p in parts]


def check_pair_bpe(tool, path, tj, label, extra=()):
    """Story text and words whose tokens have splits that are not merges
    ("th"+"er") vs naive_pair_bpe over the tool's own pre-token split."""
    vocab = tj["model"]["vocab"]
    merge_rank = {}
    for r, m in enumerate(tj["model"]["merges"]):
        merge_rank.setdefault(tuple(m.split(" ")), r)
    b2u = gguf_vocab.bytes_to_unicode()
    texts = [b"other there father together weathered ther Ther", b" yourself offset resolutions"]
    texts += list(extra)
    story = os.path.join(os.environ.get("MOTE_SHARED", ""), "data", "tinystories-valid.txt")
    if os.path.exists(story):
        with open(story, "rb") as f:
            texts += [l for l in f.read(600000).split(b"\n") if l.strip()][:2000]
    texts = [t for t in texts if b"<|" not in t]  # special tokens: not in the naive model
    rows = encode(tool, path, texts)
    splits = pretok(tool, "gpt2", texts)
    bad = 0
    for text, row, ends in zip(texts, rows, splits):
        want, prev = [], 0
        for e in ends:
            want += naive_pair_bpe(merge_rank, vocab, "".join(b2u[x] for x in text[prev:e]))
            prev = e
        if row[0] != want:
            bad += 1
            if bad <= 5:
                print("%s PAIR BPE %r\n  got  %s\n  want %s" % (label, text[:60], row[0][:30],
                                                             want[:30]))
    print("%s: %d texts vs a naive pair-merge BPE, %d mismatches" % (label, len(texts), bad))
    return bad


def cmd_gguf(tool, work):
    os.makedirs(work, exist_ok=True)
    bad = 0
    # gpt-2: ByteLevel with the GPT-2 regex. mpt: its Hugging Face tokenizer
    # also pre-tokenizes with ByteLevel's GPT-2 regex (plus an NFC normalizer
    # that only matters for unnormalized input; the GGUF does not record it).
    for name, pre in (("gpt-2", "gpt-2"), ("mpt", "gpt-2")):
        g = shared("ggml-vocab-%s.gguf" % name)
        need(os.path.exists(g), g)
        kv = gguf_vocab.read_kv(g)
        kv.setdefault("tokenizer.ggml.pre", pre)
        kv["tokenizer.ggml.pre"] = pre
        path = os.path.join(work, name + "-tokenizer.json")
        tj = gguf_vocab.to_tokenizer_json(kv)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        bad += check_vectors(tool, path, "ggml-vocab-%s.gguf" % name)
        if name == "gpt-2":  # mpt's added "  " tokens are outside the naive model
            bad += check_pair_bpe(tool, path, tj, name)
    return bad


# ---- pre-tokenizer vs Python's re ---------------------------------------------

def classes():
    L, N, S = [], [], []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        dst = L if cat[0] == "L" else N if cat[0] == "N" else \
            S if cat in ("Zs", "Zl", "Zp") or 9 <= cp <= 13 or cp == 0x85 else None
        if dst is None:
            continue
        if dst and dst[-1][1] == cp - 1:
            dst[-1][1] = cp
        else:
            dst.append([cp, cp])

    def body(rs):
        return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                       for a, b in rs)
    return body(L), body(N), body(S)


def python_patterns():
    L, N, S = classes()
    c = "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    llama3 = (c + "|[^\r\n{L}{N}]?[{L}]+|[{N}]{{1,3}}| ?[^{S}{L}{N}]+[\r\n]*|[{S}]*[\r\n]+|"
              "[{S}]+(?![^{S}])|[{S}]+").format(L=L, N=N, S=S)
    gpt2 = ("'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"
            ).format(L=L, N=N, S=S)
    return re.compile(llama3, re.DOTALL), re.compile(gpt2, re.DOTALL)


def random_texts(seed, count):
    rng = random.Random(seed)
    alphabet = list("aZs'tTrReEvVmMlLdD0123456789 \t\r\n.,!?-_()[]{}<|>\"#$%&*+/:;=@\\^`~") + [
        "\u00e9", "\u00df", "\u0416", "\u05d0", "\u0661", "\u00b2", "\u2167", "\u4e2d",
        "\u3042", "\uac00", "\U0001f999", "\u200d", "\u0301", "\u00a0", "\u2028", "\u3000",
        "\u0085", "\u1680", "\u2009", "\u00ad", "\ufeff", "\u017f", "\u212a", "\U0001d400",
        "\u0e01", "\u0e31"]
    texts = []
    for _ in range(count):
        n = rng.randrange(0, 40)
        texts.append("".join(rng.choice(alphabet) for _ in range(n)))
    return texts


def cmd_pretok(tool, work):
    # The committed table must be what the generator writes from this
    # Python's unicodedata (a Unicode upgrade shows up here, not as drift).
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    gen = subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_unicode_tables.py")],
                         stdout=subprocess.PIPE, check=True).stdout
    with open(os.path.join(root, "runtime", "src", "tokenizer_unicode.c"), "rb") as f:
        if f.read() != gen:
            print("runtime/src/tokenizer_unicode.c differs from scripts/gen_unicode_tables.py's "
                  "output (Unicode %s): regenerate it" % unicodedata.unidata_version)
            return 1
    llama3, gpt2 = python_patterns()
    texts = random_texts(7, 3000) + ["I'M 'Ll 'VE", "  \n\n  x", "a\r\n\r\nb", "12345 678",
                                     "hello   world  ", "\t\tfoo", "'", "''s", " !!\n\n",
                                     "🦙🦙 x"]
    bad = 0
    for name, rx in (("llama3", llama3), ("gpt2", gpt2)):
        got = pretok(tool, name, [t.encode() for t in texts])
        for t, g in zip(texts, got):
            want, pos = [], 0
            for m in rx.finditer(t):
                assert m.start() == pos, (t, m.start(), pos)  # the regexes cover everything
                pos = m.end()
                want.append(len(t[:pos].encode()))
            if g != want:
                bad += 1
                if bad <= 10:
                    print("%s MISMATCH %r\n  got  %s\n  want %s" % (name, t, g, want))
        print("pretok %s: %d random texts, %d mismatches" % (name, len(texts), bad))
    return bad


# ---- bad files ------------------------------------------------------------------

def cmd_bad(tool, work):
    os.makedirs(work, exist_ok=True)
    good = shared("ggml-vocab-gpt-2.gguf")
    need(os.path.exists(good), good)
    base = gguf_vocab.to_tokenizer_json(gguf_vocab.read_kv(good))

    def tj(mutate):
        j = json.loads(json.dumps(base))
        mutate(j)
        return json.dumps(j).encode()

    def setp(path, value):
        def f(j):
            d = j
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] = value
        return f

    cases = [
        ("tt-short-b64.model", b"SGVsbG8 0\n", "line 1: token is not valid base64"),
        ("tt-bad-char.model", b"SGV!bG8= 0\n", "line 1: token is not valid base64"),
        ("tt-bad-pad.model", b"SG=sbG8= 0\n", "line 1: token is not valid base64"),
        ("tt-dup-rank.model", b"YQ== 0\nYg== 0\n", "line 2: duplicate rank 0"),
        ("tt-dup-token.model", b"YQ== 0\nYQ== 1\n", "line 2: duplicate token"),
        ("tt-gap.model", b"YQ== 0\nYg== 2\n", "rank 1: missing"),
        ("tt-rank-text.model", b"YQ== zero\n", None),  # not tiktoken: SentencePiece parse
        ("tt-rank-huge.model", b"YQ== 99999999\n", "line 1: rank 99999999 is too large"),
        ("tt-two-fields.model", b"YQ== 0\nYg== 1 2\n", "line 2: expected"),
        ("tt-small.model", b"YQ== 0\nYg== 1\n", "ranks: 2 ranks: only Llama 3"),
        ("json-wordpiece.json", tj(setp(["model", "type"], "WordPiece")), "model.type: 'WordPiece'"),
        ("json-normalizer.json", tj(setp(["normalizer"], {"type": "NFC"})), "normalizer:"),
        ("json-pre-regex.json", tj(setp(["pre_tokenizer"], {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated",
             "invert": False}, {"type": "ByteLevel", "use_regex": False}]})),
         "pre_tokenizer.pretokenizers[0].pattern"),
        ("json-pre-type.json", tj(setp(["pre_tokenizer"], {"type": "Whitespace"})),
         "pre_tokenizer.type: 'Whitespace'"),
        ("json-prefix-space.json", tj(setp(["pre_tokenizer", "add_prefix_space"], True)),
         "pre_tokenizer.add_prefix_space"),
        ("json-merge.json", tj(lambda j: j["model"]["merges"].append("zzzq qqqz")),
         "model.merges[50000]"),
        ("json-byte-fallback.json", tj(setp(["model", "byte_fallback"], True)),
         "model.byte_fallback"),
        ("json-hole.json", tj(lambda j: j["model"]["vocab"].pop("the")), "model.vocab: no token"),
        ("json-not-json.json", b"{\"model\": ", "not a JSON object"),
        ("json-vocab-char.json", tj(lambda j: j["model"]["vocab"].__setitem__(
            "\u4e2d", len(j["model"]["vocab"]) + 1)), "not a byte-level token"),
    ]
    bad = 0
    for name, data, want in cases:
        path = os.path.join(work, "bad-" + name)
        with open(path, "wb") as f:
            f.write(data)
        p = run(tool, ["load", path])
        err = p.stderr.decode(errors="replace")
        lines = err.strip().split("\n")
        ok = p.returncode != 0 and len(lines) == 1 and path in err and p.stdout == b""
        if want is not None:
            ok = ok and want in err
        print("%-24s rc=%d %s%s" % (name, p.returncode, err.strip()[:150], "" if ok else "  <-- BAD"))
        bad += not ok
    print("bad files: %d cases, %d wrong" % (len(cases), bad))
    return bad


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    tool, work, cmd = argv[1], argv[2], argv[3]
    os.makedirs(work, exist_ok=True)
    fn = {"llama3": cmd_llama3, "gguf": cmd_gguf, "pretok": cmd_pretok, "bad": cmd_bad}[cmd]
    return 1 if fn(tool, work) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
