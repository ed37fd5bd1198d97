#!/usr/bin/python3
"""e2e_kvq8_<model>: the 8-bit KV cache (motec --kv-dtype q8).

- the bundle's kv_caches are Q8 with one f32 scale per row and KV head
  (group_size = head_dim, the layout string), its KV values Q8, and every
  kv_append / attention step names the q8 kernel;
- KV bytes per token (compile report and mote_model_get_info through
  mote-bench --json) are sum(width + 4 * width / head_dim), i.e. the f32
  bundle's / (4 hd / (hd + 4));
- run_model.py's checks against the float64 reference with the same KV fake
  quantization (mote_ref kv_dtype="q8"): every position's logits, prefill at
  chunk-crossing lengths, greedy tokens with 1 and 2 threads identical. The
  logit tolerance is TOL_Q8 = 3e-4 * max|logit|, not the f32 path's 1e-4:
  Mote's f32 K/V differ from the float64 ones by ~1e-6 relative, so codes of
  elements within ~1e-3 of a rounding tie (x/s = k + 0.5) come out one step
  (s = max|x|/127) apart in a few elements per row; measured worst ratios are
  printed (stories260K 9e-5, tinystories-3M 3e-5, the KV-shared model 1.5e-4,
  where four layers read each flipped element);
- reported, not checked: the error against the f32 reference (what q8 costs)
  and how many greedy tokens the q8 bundle shares with the f32 reference.

- with --buckets: a bucketed q8 bundle (motec --buckets, context buckets
  are row prefixes of the same q8 caches) generates the same 150 greedy
  tokens as the plain q8 bundle, crossing a context bucket;
- with --bad: hostile q8 manifests (re-encoded with protoc, checksums
  fixed) are refused at open with one line naming the field: a group_size
  that does not divide the width or differs from head_dim, an unknown
  layout, an f32 attention kernel on a q8 cache, an unsupported KV dtype.

  run_kvq8.py MODEL_NAME [--buckets] [--bad]   (a key of e2e_common.MODEL_TABLE)
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np

import bundle_pb
import e2e_common as E
import run_model

Q8 = 18
TOL_Q8 = 3e-4


def check_bundle(name, bundle, cfg, f32_kv_bytes):
    m, _ = bundle_pb.read(bundle)
    kvs = m["kv_caches"]
    if not kvs:
        E.fail(f"{name}: no kv_caches")
    for kv in kvs:
        if (kv["dtype"] != Q8 or kv["group_size"] != cfg.head_dim or kv["scale_dtype"] != 1
                or kv["layout"] != "i8-rows+f32-row-head-scales"):
            E.fail(f"{name}: kv cache {kv} is not q8 with per-(row, KV head) f32 scales")
    for g in m["graphs"]:
        for st in g["steps"]:
            want = {5: "kv_append_q8_f32", 6: "attention_q8_f32"}.get(st["op"])
            if want and st["kernel"] != want:
                E.fail(f"{name}: graph {g['name']} step {st['loc']}: kernel {st['kernel']} != {want}")
        for v in g["values"]:
            if v["kind"] == 3 and v["dtype"] != Q8:
                E.fail(f"{name}: graph {g['name']}: a KV value has dtype {v['dtype']}, not q8")
    out = E.run([E.tool("motec"), "inspect", bundle]).stdout.decode()
    if f"kv cache dtype: q8 (int8 codes + one f32 scale per {cfg.head_dim} columns)" not in out:
        E.fail(f"{name}: motec inspect does not report the q8 KV cache:\n{out[-800:]}")
    want = sum(kv["width"] + 4 * kv["width"] // kv["group_size"] for kv in kvs)
    r = E.run([E.tool("mote-bench"), bundle, "--json", "--gen-tokens", "2", "--prompt-tokens", "4",
               "--reps", "1", "--no-bandwidth", "--warmup", "0"])
    got = json.loads(r.stdout.decode())["kv_bytes_per_token"]
    if got != want:
        E.fail(f"{name}: mote_model_get_info kv_bytes_per_token {got} != {want}")
    ratio = f32_kv_bytes / got
    hd = cfg.head_dim
    if abs(ratio - 4 * hd / (hd + 4)) > 1e-9:
        E.fail(f"{name}: KV bytes ratio f32/q8 {ratio:.4f} != 4 hd/(hd+4) = {4 * hd / (hd + 4):.4f}")
    return got, ratio


def check_bad(bundle, work):
    """Edits the manifest through protoc's text format and expects mote-run to
    refuse each edit at open: exit 1, one stderr line naming the field."""
    sys.path.insert(0, os.path.join(E.SOURCE, "test", "badinput"))
    from badinput import xxh64
    protoc = shutil.which("protoc")
    if not protoc:
        E.missing("protoc (protobuf-compiler)")
    proto = os.path.join(E.SOURCE, "compiler", "bundle")
    with open(bundle, "rb") as f:
        good = f.read()
    moff, mlen = struct.unpack_from("<QQ", good, 16)
    text = subprocess.run([protoc, "--decode=mote.bundle.Manifest", "-I", proto, "mote_bundle.proto"],
                          input=good[moff:moff + mlen], stdout=subprocess.PIPE, check=True).stdout.decode()
    sec = re.search(r'sections \{\s*name: "weights"\s*offset: (\d+)', text)
    if not sec:
        E.fail("bad q8 cases: no weights section in the decoded manifest")
    sec_off = int(sec.group(1))
    cases = [
        ("group_size not dividing width", ("group_size: 8", "group_size: 3"), "group_size"),
        ("group_size not head_dim", ("group_size: 8", "group_size: 4"), "head_dim"),
        ("unknown layout", ('layout: "i8-rows+f32-row-head-scales"', 'layout: "i8-cols"'), "layout"),
        ("f32 attention kernel on q8", ('kernel: "attention_q8_f32"', 'kernel: "attention_f32"'),
         "kernel"),
        ("kv dtype f16", ("dtype: Q8\n  group_size", "dtype: F16\n  group_size"), "kv_caches"),
    ]
    for label, (old, new), needle in cases:
        if old not in text:
            E.fail(f"bad q8 case {label}: {old!r} not in the decoded manifest")
        m = subprocess.run([protoc, "--encode=mote.bundle.Manifest", "-I", proto, "mote_bundle.proto"],
                           input=text.replace(old, new).encode(), stdout=subprocess.PIPE,
                           check=True).stdout
        # The manifest sits between the header and the 4 KiB aligned weights.
        if moff + len(m) > sec_off:
            E.fail(f"bad q8 case {label}: re-encoded manifest does not fit")
        b = bytearray(good)
        b[moff:moff + mlen] = bytes(mlen)
        b[moff:moff + len(m)] = m
        struct.pack_into("<QQ", b, 24, len(m), xxh64(m))
        struct.pack_into("<Q", b, 56, xxh64(bytes(b[:56])))
        p = os.path.join(work, "bad-" + label.replace(" ", "-") + ".mote")
        with open(p, "wb") as f:
            f.write(bytes(b))
        r = E.run([E.tool("mote-run"), p, "-p", "hi", "-n", "1"], check=False)
        err = r.stderr.decode(errors="replace").strip()
        if r.returncode != 1 or len(err.splitlines()) != 1 or needle not in err:
            E.fail(f"bad q8 case {label}: exit {r.returncode}, stderr {err[:300]!r} "
                   f"(want exit 1 and one line naming {needle!r})")
        print(f"ok   {label}: {err[:150]}")


def main():
    name = sys.argv[1]
    E.need_torch()
    from mote_ref import Reference
    work = E.work_dir("kvq8-" + name)
    src = E.model_path(name, work)
    b32 = E.compile_model(src, os.path.join(work, name + "-f32.mote"))
    b8 = E.compile_model(src, os.path.join(work, name + "-kvq8.mote"), ["--kv-dtype", "q8"])
    r = E.run([E.tool("mote-bench"), b32, "--json", "--gen-tokens", "2", "--prompt-tokens", "4",
               "--reps", "1", "--no-bandwidth", "--warmup", "0"])
    f32_kv = json.loads(r.stdout.decode())["kv_bytes_per_token"]
    ref8 = Reference.from_path(src, kv_dtype="q8")
    kvb, ratio = check_bundle(name, b8, ref8.cfg, f32_kv)

    # Mote q8 vs the fake-quantized reference: the tolerance of every e2e test.
    E.REL_TOL = TOL_Q8
    run_model.check(name + " kv-q8", b8, ref8, work)
    E.REL_TOL = 1e-4

    # What q8 costs: Mote q8 vs the f32 reference (reported only).
    ref32 = Reference.from_path(src)
    V, S = ref32.cfg.vocab_size, ref32.cfg.max_seq_len
    ids = E.story_ids(min(150, S))
    got = E.mote_logits(b8, ids, V, step=True, work=work)
    want = ref32.logits(ids)
    err = max(float(np.abs(got[r].astype(np.float64) - want[r]).max() / np.abs(want[r]).max())
              for r in range(len(ids)))
    prompt = E.story_ids(5)
    n = min(128, S - len(prompt))
    g8 = E.mote_generate(b8, prompt, n)
    g32 = ref32.generate(prompt, n)
    same = next((i for i in range(min(len(g8), len(g32))) if g8[i] != g32[i]), min(len(g8), len(g32)))
    print(f"{name}: KV {f32_kv} -> {kvb} bytes/token ({ratio:.2f}x); vs the f32 reference "
          f"max|d|/max|logit| {err:.2e} over {len(ids)} positions; greedy q8 equals f32 for "
          f"the first {same} of {len(g32)} tokens")
    if "--buckets" in sys.argv[2:]:
        bb = E.compile_model(src, os.path.join(work, name + "-kvq8-buckets.mote"),
                             ["--kv-dtype", "q8", "--buckets", "prefill=1,8,32:context=128,512"])
        prompt = E.story_ids(21)
        want = E.mote_generate(b8, prompt, 150)
        got = E.mote_generate(bb, prompt, 150)
        E.compare_tokens(f"{name} q8 bucketed vs plain", got, want)
        print(f"{name}: bucketed q8 bundle: {len(got)} greedy tokens equal the plain q8 bundle's")
    if "--bad" in sys.argv[2:]:
        check_bad(b8, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
