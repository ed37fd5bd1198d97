#!/usr/bin/python3
"""Hostile-input suite: writes truncated, corrupt and hostile model files and
bundles into a temp dir and checks that motec / mote-run reject each one with
a non-zero exit, one clear line on stderr, no crash, no sanitizer report and
no output file left behind.

Tools come from $MOTE_BIN (so the same suite runs against an ASan+UBSan
build), models from $MOTE_MODELS. Usage: badinput.py --suite compiler|bundle
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

MODELS = os.environ.get("MOTE_MODELS", os.path.join(os.path.dirname(__file__),
                                                     "../../../shared/models"))
BIN = os.environ.get("MOTE_BIN", "")
CI = os.environ.get("CI") == "true"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer")
failures = []


def fail(name, why):
    failures.append(name)
    print(f"FAIL {name}: {why}")


def run(cmd, timeout=120):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return None, "timed out"


def check_rejected(name, rc, err, needles, one_line=True):
    """Common verdict: clean non-zero exit, message naming what it should."""
    if rc is None:
        return fail(name, "timed out")
    if rc == 0:
        return fail(name, "accepted hostile input (exit 0)")
    if rc < 0 or rc >= 128:
        return fail(name, f"crashed (exit {rc}): {err[-400:]}")
    if any(m in err for m in SANITIZER_MARKS):
        return fail(name, f"sanitizer report: {err[-800:]}")
    lines = [l for l in err.splitlines() if l.strip()]
    if not lines or (one_line and len(lines) != 1):
        return fail(name, f"expected exactly one line on stderr, got {len(lines)}: {err[:600]!r}")
    for n in needles:
        if n.lower() not in err.lower():
            return fail(name, f"stderr does not mention {n!r}: {err.strip()[:400]}")
    print(f"ok   {name}: {lines[0][:160]}")


# ------------------------------------------------------------ motec inputs

def motec_case(name, input_path, needles, tmp):
    out_dir = tempfile.mkdtemp(dir=tmp, prefix="out-")
    rc, err = run([os.path.join(BIN, "motec"), "compile", input_path,
                   "-o", os.path.join(out_dir, "OUT.mote")])
    check_rejected(name, rc, err, needles)
    left = os.listdir(out_dir)
    if left:
        fail(name, f"left files in the output dir: {left}")


def hf_copy(tmp, name):
    """A fresh copy of stories260K-hf (config, tokenizer, safetensors)."""
    d = os.path.join(tmp, name)
    shutil.copytree(os.path.join(MODELS, "stories260K-hf"), d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return d


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_st(path, header, payload):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + payload)


def edit_config(d, fn):
    p = os.path.join(d, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    fn(cfg)
    with open(p, "w") as f:
        json.dump(cfg, f)


def safetensors_cases(tmp):
    q0 = "model.layers.0.self_attn.q_proj.weight"
    up0 = "model.layers.0.mlp.up_proj.weight"

    d = hf_copy(tmp, "st-truncated")
    st = os.path.join(d, "model.safetensors")
    with open(st, "rb") as f:
        data = f.read()
    with open(st, "wb") as f:
        f.write(data[:len(data) // 2])
    motec_case("safetensors truncated", d, ["model.safetensors", "data_offsets"], tmp)

    d = hf_copy(tmp, "st-tiny")
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(b"\x10\x00")
    motec_case("safetensors shorter than 8 bytes", d, ["model.safetensors", "header"], tmp)

    d = hf_copy(tmp, "st-hdrlen")
    st = os.path.join(d, "model.safetensors")
    with open(st, "r+b") as f:
        f.write(struct.pack("<Q", os.path.getsize(st) + 1000))
    motec_case("safetensors header length past EOF", d, ["model.safetensors", "header length"], tmp)

    d = hf_copy(tmp, "st-hdrjson")
    st = os.path.join(d, "model.safetensors")
    hdr, payload = read_st(st)
    raw = b'{"a": [1, 2'
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + payload)
    motec_case("safetensors header not JSON", d, ["model.safetensors", "header"], tmp)

    def st_edit(case, fn, needles):
        d = hf_copy(tmp, case.replace(" ", "-"))
        st = os.path.join(d, "model.safetensors")
        hdr, payload = read_st(st)
        fn(hdr)
        write_st(st, hdr, payload)
        motec_case("safetensors " + case, d, ["model.safetensors"] + needles, tmp)

    st_edit("shape contradicts config", lambda h: h[q0].update(shape=[128, 32]),
            [q0, "config.json"])
    st_edit("unknown dtype", lambda h: h[q0].update(dtype="F33"), [q0, "dtype"])
    st_edit("unsupported dtype", lambda h: h[q0].update(dtype="I64"), [q0, "dtype"])
    st_edit("missing tensor", lambda h: h.pop(up0), [up0, "missing"])
    st_edit("extra tensor", lambda h: h.update({"model.layers.9.mlp.up_proj.weight": h[up0]}),
            ["model.layers.9.mlp.up_proj.weight"])
    st_edit("data_offsets out of range",
            lambda h: h[q0].update(data_offsets=[h[q0]["data_offsets"][0], 1 << 62]),
            [q0, "data_offsets"])
    st_edit("data_offsets disagree with shape",
            lambda h: h[q0].update(data_offsets=[h[q0]["data_offsets"][0],
                                                 h[q0]["data_offsets"][1] - 4]),
            [q0, "data_offsets"])
    st_edit("huge shape", lambda h: h[q0].update(shape=[1 << 40, 1 << 40, 1 << 40]),
            [q0, "shape"])

    # Sharded: weight_map naming a file outside the directory.
    d = os.path.join(tmp, "st-shard")
    shutil.copytree(os.path.join(MODELS, "stories260K-hf-bf16"), d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    idx = os.path.join(d, "model.safetensors.index.json")
    with open(idx) as f:
        j = json.load(f)
    j["weight_map"]["model.norm.weight"] = "../../etc/passwd"
    with open(idx, "w") as f:
        json.dump(j, f)
    motec_case("sharded weight_map escapes the dir", d,
               ["model.safetensors.index.json", "weight_map"], tmp)


def config_cases(tmp):
    d = hf_copy(tmp, "cfg-malformed")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"hidden_size": 64, "num_hidden_layers": ')
    motec_case("config.json malformed", d, ["config.json"], tmp)

    cases = [
        ("hidden_size negative", lambda c: c.update(hidden_size=-64), "hidden_size"),
        ("hidden_size string", lambda c: c.update(hidden_size="64"), "hidden_size"),
        ("hidden_size huge", lambda c: c.update(hidden_size=1 << 40), "hidden_size"),
        ("heads zero", lambda c: c.update(num_attention_heads=0), "num_attention_heads"),
        ("kv heads do not divide", lambda c: c.update(num_key_value_heads=3),
         "num_key_value_heads"),
        ("vocab missing", lambda c: c.pop("vocab_size"), "vocab_size"),
        ("vocab contradicts tensors", lambda c: c.update(vocab_size=600),
         "model.embed_tokens.weight"),
        ("model_type unknown", lambda c: c.update(model_type="gpt2", architectures=["X"]),
         "model_type"),
        ("rope_scaling", lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 4}),
         "rope_scaling"),
        ("rope_scaling llama3 without factor",
         lambda c: c.update(rope_scaling={"rope_type": "llama3", "low_freq_factor": 1,
                                          "high_freq_factor": 4,
                                          "original_max_position_embeddings": 64}),
         "rope_scaling.factor"),
        ("rope_scaling llama3 high <= low",
         lambda c: c.update(rope_scaling={"rope_type": "llama3", "factor": 8, "low_freq_factor": 4,
                                          "high_freq_factor": 1,
                                          "original_max_position_embeddings": 64}),
         "rope_scaling.high_freq_factor"),
        ("rope_scaling linear factor < 1",
         lambda c: c.update(rope_scaling={"type": "linear", "factor": 0.5}),
         "rope_scaling.factor"),
        ("rope_scaling not an object", lambda c: c.update(rope_scaling="llama3"), "rope_scaling"),
        ("kv sharing every layer", lambda c: c.update(num_kv_shared_layers=99),
         "num_kv_shared_layers"),
        ("kv sharing negative", lambda c: c.update(num_kv_shared_layers=-1),
         "num_kv_shared_layers"),
    ]
    for name, fn, field in cases:
        d = hf_copy(tmp, "cfg-" + name.replace(" ", "-"))
        edit_config(d, fn)
        motec_case("config.json " + name, d, ["config.json", field], tmp)


def llama2c_cases(tmp):
    src = os.path.join(MODELS, "stories260K", "stories260K.bin")
    with open(src, "rb") as f:
        ckpt = f.read()
    good = list(struct.unpack("<7i", ckpt[:28]))
    names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]

    def l2c(case, data, needles):
        d = os.path.join(tmp, "l2c-" + case.replace(" ", "-"))
        os.mkdir(d)
        shutil.copy(os.path.join(MODELS, "stories260K", "tok512.model"), d)
        p = os.path.join(d, "model.bin")
        with open(p, "wb") as f:
            f.write(data)
        motec_case("llama2.c " + case, p, ["model.bin"] + needles, tmp)

    def hdr(**kw):
        v = list(good)
        for k, x in kw.items():
            v[names.index(k)] = x
        return struct.pack("<7i", *v) + ckpt[28:]

    l2c("dim huge", hdr(dim=1 << 30), ["dim"])
    l2c("dim negative", hdr(dim=-64), ["dim"])
    l2c("dim zero", hdr(dim=0), ["dim"])
    l2c("layers huge", hdr(n_layers=0x7FFFFFFF), ["n_layers"])
    l2c("heads zero", hdr(n_heads=0), ["n_heads"])
    l2c("heads do not divide dim", hdr(n_heads=7, n_kv_heads=7), ["n_heads"])
    l2c("kv heads do not divide heads", hdr(n_kv_heads=3), ["n_kv_heads"])
    l2c("vocab INT_MIN", hdr(vocab_size=-0x80000000), ["vocab_size"])
    l2c("seq_len negative", hdr(seq_len=-1), ["seq_len"])
    l2c("all large", struct.pack("<7i", 65536, 262144, 1024, 8, 4, 4194304, 4194304)
        + ckpt[28:], ["header"])
    l2c("truncated weights", ckpt[:-100], ["header"])
    l2c("truncated header", ckpt[:20], ["header"])
    l2c("empty", b"", ["header"])
    v1 = struct.pack("<Ii7iB", 0x616B3432, 7, *good, 1)
    l2c("v1 unknown version", v1 + b"\0" * (256 - len(v1)) + ckpt[28:], ["version"])


def tokenizer_cases(tmp):
    """llama2.c checkpoint + hostile tokenizer.bin beside it (no .model)."""
    ckpt = os.path.join(MODELS, "stories260K", "stories260K.bin")
    with open(os.path.join(MODELS, "stories260K", "tok512.bin"), "rb") as f:
        tok = f.read()

    def case(name, data):
        d = os.path.join(tmp, "tok-" + name.replace(" ", "-"))
        os.mkdir(d)
        shutil.copy(ckpt, d)
        with open(os.path.join(d, "tokenizer.bin"), "wb") as f:
            f.write(data)
        motec_case("tokenizer.bin " + name, d, ["tokenizer.bin"], tmp)

    case("truncated", tok[:len(tok) // 2])
    case("empty", b"")
    # First piece's length field (after max_token_length and its score) huge.
    case("huge piece length", tok[:8] + struct.pack("<i", 0x7FFFFFF0) + tok[12:])
    case("negative piece length", tok[:8] + struct.pack("<i", -5) + tok[12:])
    case("negative max_token_length", struct.pack("<i", -1) + tok[4:])


# ------------------------------------------------------------ bundle inputs

P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5, M64 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5, (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for k in range(4):
            h = (((h ^ _round(0, v[k])) * P1) + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl(h, 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * P1) & M64
        h = (_rotl(h, 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & M64
        h = (_rotl(h, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


def rehash_header(b):
    b[56:64] = struct.pack("<Q", xxh64(bytes(b[:56])))


def bundle_cases(tmp):
    good_path = os.path.join(tmp, "good.mote")
    rc, err = run([os.path.join(BIN, "motec"), "compile",
                   os.path.join(MODELS, "stories260K"), "-o", good_path], timeout=300)
    if rc != 0:
        return fail("compile stories260K", f"exit {rc}: {err[-600:]}")
    with open(good_path, "rb") as f:
        good = f.read()
    if struct.unpack_from("<Q", good, 56)[0] != xxh64(good[:56]):
        return fail("xxh64 self-check", "the suite's XXH64 disagrees with the bundle header")
    rc, err = run([os.path.join(BIN, "mote-run"), good_path, "-p", "hi", "-n", "1"])
    if rc != 0:
        return fail("good bundle runs", f"exit {rc}: {err[-600:]}")
    mlen = struct.unpack_from("<Q", good, 24)[0]
    moff = struct.unpack_from("<Q", good, 16)[0]

    def case(name, data, needles=()):
        p = os.path.join(tmp, "bad-" + name.replace(" ", "-") + ".mote")
        with open(p, "wb") as f:
            f.write(bytes(data))
        rc, err = run([os.path.join(BIN, "mote-run"), p, "-p", "hi", "-n", "1"])
        check_rejected("bundle " + name, rc, err, list(needles), one_line=False)

    case("empty", b"")
    case("truncated in header", good[:32])
    case("truncated to header", good[:64])
    case("truncated in half", good[:len(good) // 2])
    case("missing last byte", good[:-1])
    b = bytearray(good); b[0] ^= 0xFF
    case("wrong magic", b)
    b = bytearray(good); b[8:12] = struct.pack("<I", 99); rehash_header(b)
    case("wrong version", b, ["version"])
    b = bytearray(good); b[60] ^= 0x01
    case("header checksum", b)
    b = bytearray(good); b[moff + mlen // 2] ^= 0x5A
    case("manifest byte flipped", b)
    b = bytearray(good); b[24:32] = struct.pack("<Q", 1 << 62); rehash_header(b)
    case("manifest size huge", b)
    b = bytearray(good); b[16:24] = struct.pack("<Q", len(good) - 8); rehash_header(b)
    case("manifest offset near EOF", b)
    b = bytearray(good); b[40:48] = struct.pack("<Q", len(good) * 2); rehash_header(b)
    case("file_size wrong", b)
    # Garbage manifest with valid checksums: the protobuf reader itself must cope.
    for fill in (0xFF, 0x0A, 0x12):
        b = bytearray(good)
        b[moff:moff + mlen] = bytes([fill]) * mlen
        b[32:40] = struct.pack("<Q", xxh64(bytes(b[moff:moff + mlen])))
        rehash_header(b)
        case(f"manifest garbage {fill:#x}", b)
    manifest_fuzz(tmp, good, moff, mlen)


def manifest_fuzz(tmp, good, moff, mlen, rounds=150):
    """Seeded byte flips inside the manifest, checksums fixed so the protobuf
    reader and the validators see them. Some mutants stay valid (a float, a
    string): those may run; none may crash or trip a sanitizer."""
    import random
    rng = random.Random(1234)
    p = os.path.join(tmp, "fuzz.mote")
    crashes = 0
    for i in range(rounds):
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[moff + rng.randrange(mlen)] = rng.randrange(256)
        b[32:40] = struct.pack("<Q", xxh64(bytes(b[moff:moff + mlen])))
        rehash_header(b)
        with open(p, "wb") as f:
            f.write(bytes(b))
        rc, err = run([os.path.join(BIN, "mote-run"), p, "-p", "hi", "-n", "1"], timeout=30)
        if rc is None or rc < 0 or rc >= 128 or any(m in err for m in SANITIZER_MARKS):
            crashes += 1
            fail(f"manifest fuzz #{i}", f"exit {rc}: {err[-600:]}")
            shutil.copy(p, os.path.join(tempfile.gettempdir(), f"mote-fuzz-crash-{i}.mote"))
            if crashes >= 3:
                break
    if not crashes:
        print(f"ok   manifest fuzz: {rounds} mutants, no crash")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=["compiler", "bundle"], required=True)
    args = ap.parse_args()
    needed = ["motec"] + (["mote-run"] if args.suite == "bundle" else [])
    for tool in needed:
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            print(f"FAIL: {tool} not found in MOTE_BIN={BIN!r}")
            return 1
    if not os.path.isdir(os.path.join(MODELS, "stories260K-hf")):
        print(f"{'FAIL' if CI else 'SKIP'}: models not found in {MODELS}")
        return 1 if CI else 77
    tmp = tempfile.mkdtemp(prefix="mote-badinput-")
    try:
        if args.suite == "compiler":
            safetensors_cases(tmp)
            config_cases(tmp)
            llama2c_cases(tmp)
            tokenizer_cases(tmp)
        else:
            bundle_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s)" if failures else "all cases rejected cleanly")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
