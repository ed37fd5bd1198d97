#!/usr/bin/python3
"""Minimal GGUF metadata reader and tokenizer.json writer (tests only).

Reads the key/value metadata of a GGUF file (v2/v3; tensors are not read)
and turns a byte-level BPE vocabulary (tokenizer.ggml.model == "gpt2") into
a Hugging Face tokenizer.json: vocab, merges, added_tokens (control tokens
special, user-defined ones not) and the pre-tokenizer for
tokenizer.ggml.pre ("gpt-2"-like: ByteLevel with its regex; "llama-bpe":
Split with the Llama 3 regex + ByteLevel).

It also turns Meta's tiktoken tokenizer.model (Llama 3) into the
tokenizer.json that Hugging Face ships for it (merges derived from the
ranks: every split of a token into two lower-ranked tokens).

  gguf_vocab.py info FILE.gguf              prints the tokenizer.* keys
  gguf_vocab.py json FILE.gguf OUT.json     writes the tokenizer.json
  gguf_vocab.py tiktoken tokenizer.model OUT.json
"""
import base64
import json
import struct
import sys

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# tokenizer.ggml.pre values whose llama.cpp pre-tokenizer is one of the two.
PRE = {"gpt-2": "gpt2", "llama-bpe": "llama3", "llama3": "llama3"}

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        if n > len(self.d) - self.p:
            raise ValueError("string past the end of the file")
        s = self.d[self.p:self.p + n]
        self.p += n
        return s.decode("utf-8", errors="surrogateescape")

    def value(self, t):
        if t in _SCALAR:
            return self.take(_SCALAR[t])
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        raise ValueError("unknown GGUF value type %d" % t)


def read_kv(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        raise ValueError(path + ": not a GGUF file")
    r = Reader(data)
    r.p = 4
    version = r.take("<I")
    if version not in (2, 3):
        raise ValueError("%s: GGUF version %d" % (path, version))
    r.take("<Q")  # tensor count
    n_kv = r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        key = r.string()
        kv[key] = r.value(r.take("<I"))
    return kv


def byte_level_decoder():
    """GPT-2's bytes_to_unicode, inverted: character -> byte."""
    inv, nxt = {}, 256
    for b in range(256):
        printable = 33 <= b <= 126 or 161 <= b <= 172 or b >= 174
        inv[chr(b if printable else nxt)] = b
        nxt += not printable
    return inv


def raw_text(tok, inv):
    """An added token's text: GGUF stores it byte-level mapped ("ĠĠ" for two
    spaces), tokenizer.json's added_tokens hold the raw text."""
    if all(c in inv for c in tok):
        raw = bytes(inv[c] for c in tok)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return tok


def bytes_to_unicode():
    return {b: c for c, b in byte_level_decoder().items()}


def llama3_specials():
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
             "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    names += ["<|reserved_special_token_%d|>" % i for i in range(3, 3 + 256 - len(names))]
    return names


def tiktoken_to_json(model):
    ranks = {}
    with open(model) as f:
        for line in f:
            if line.strip():
                tok, r = line.split()
                ranks[base64.b64decode(tok)] = int(r)
    b2u = bytes_to_unicode()

    def m(b):
        return "".join(b2u[x] for x in b)
    merges = []
    for tok, r in ranks.items():
        for i in range(1, len(tok)):
            ra, rb = ranks.get(tok[:i]), ranks.get(tok[i:])
            if ra is not None and rb is not None and ra < r and rb < r:
                merges.append((r, ra, rb, m(tok[:i]) + " " + m(tok[i:])))
    merges.sort()
    n = len(ranks)
    added = [{"id": n + i, "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, s in enumerate(llama3_specials())]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated",
                 "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": False}]},
            "post_processor": {"type": "Sequence", "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                 "use_regex": True},
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                            {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [], "special_tokens": {"<|begin_of_text|>": {
                     "id": "<|begin_of_text|>", "ids": [n], "tokens": ["<|begin_of_text|>"]}}}]},
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                      "vocab": {m(t): r for t, r in ranks.items()},
                      "merges": [x[3] for x in merges]}}


def to_tokenizer_json(kv):
    if kv.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError("not a byte-level BPE vocabulary: %r" % kv.get("tokenizer.ggml.model"))
    pre = PRE.get(kv.get("tokenizer.ggml.pre", "gpt-2"))
    if pre is None:
        raise ValueError("pre-tokenizer %r is neither llama3 nor gpt2" % kv["tokenizer.ggml.pre"])
    tokens, types = kv["tokenizer.ggml.tokens"], kv.get("tokenizer.ggml.token_type")
    types = types or [1] * len(tokens)
    vocab, added, inv = {}, [], byte_level_decoder()
    for i, (tok, ty) in enumerate(zip(tokens, types)):
        if ty in (3, 4):  # control, user-defined: matched whole in the text
            added.append({"id": i, "content": raw_text(tok, inv), "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": ty == 3})
        else:
            vocab[tok] = i
    if pre == "gpt2":
        pt = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
              "use_regex": True}
    else:
        pt = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": added, "normalizer": None, "pre_tokenizer": pt,
            "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": pre == "llama3",
                      "vocab": vocab, "merges": kv.get("tokenizer.ggml.merges", [])}}


def main(argv):
    if len(argv) >= 3 and argv[1] == "info":
        kv = read_kv(argv[2])
        for k, v in kv.items():
            if k.startswith("tokenizer."):
                print(k, (v[:5] + ["..."]) if isinstance(v, list) else v)
        return 0
    if len(argv) == 4 and argv[1] == "json":
        with open(argv[3], "w", encoding="utf-8") as f:
            json.dump(to_tokenizer_json(read_kv(argv[2])), f, ensure_ascii=False)
        return 0
    if len(argv) == 4 and argv[1] == "tiktoken":
        with open(argv[3], "w", encoding="utf-8") as f:
            json.dump(tiktoken_to_json(argv[2]), f, ensure_ascii=False)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
