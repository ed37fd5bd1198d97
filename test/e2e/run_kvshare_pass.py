#!/usr/bin/python3
"""e2e_kvshare_pass_<model>: motec --kv-share A:B (or --kv-share-boundary N)
applied to a model trained without sharing. The rewritten bundle must match
the float64 reference of the *shared* architecture (layers >= boundary attend
over layer boundary-1's K/V with their own queries): every position, chunked
prefill and 128 greedy tokens (run_model.check). The compile report must say
that the model changed and give KV bytes per token before/after, which must
equal (layers owning K/V) x 2 x kv width x 4 computed from the reference's
config; the bundle must hold no K/V weights of the shared layers.

  run_kvshare_pass.py MODEL (--kv-share A:B | --kv-share-boundary N)
"""
import json
import os
import re
import sys

import e2e_common as E
import run_model


def main():
    name, flag, val = sys.argv[1], sys.argv[2], sys.argv[3]
    E.need_torch()
    from mote_ref import Reference
    work = E.work_dir(f"kvshare-{name}-{val.replace(':', '-')}")
    src = E.model_path(name, work)
    base = Reference.from_path(src)
    L = base.cfg.n_layers
    if flag == "--kv-share":
        a, b = (int(x) for x in val.split(":"))
        first = int(L * a / (a + b) + 0.5)     # rounded half up, as the pass does
    else:
        first = int(val)
    ref = Reference.from_path(src, kv_share_boundary=first)
    width = base.cfg.n_kv_heads * base.cfg.head_dim

    plain = os.path.join(work, "plain.mote")
    E.compile_model(src, plain)
    out = os.path.join(work, "shared.mote")
    if os.path.exists(out):
        os.remove(out)
    rj = out + ".json"
    r = E.run([E.tool("motec"), "compile", src, "-o", out, flag, val, "--report-json", rj])
    err = r.stderr.decode(errors="replace")
    if "changes the model" not in err:
        E.fail(f"motec report does not say the model changed:\n{err}")
    m = re.search(r"kv cache: (\d+) -> (\d+) bytes per token", err)
    want = (L * 2 * width * 4, first * 2 * width * 4)
    if not m or (int(m.group(1)), int(m.group(2))) != want:
        E.fail(f"want 'kv cache: {want[0]} -> {want[1]} bytes per token' in:\n{err}")
    if f"layers {first}..{L - 1} attend over layer {first - 1}'s K/V" not in err:
        E.fail(f"report does not name the boundary {first}:\n{err}")
    with open(rj) as f:
        ks_json = json.load(f).get("kv_share")
    want_json = {"shared_layers": L - first, "trained_shared_layers": 0, "source_layer": first - 1,
                 "kv_bytes_per_token_before": want[0], "kv_bytes_per_token_after": want[1],
                 "changes_model": True}
    if ks_json != want_json:
        E.fail(f"--report-json kv_share {ks_json}, want {want_json}")

    import run_kvshared
    run_kvshared.check_last_row(out)  # block 2 of prefill on the last row

    def tensors(path):
        txt = E.run([E.tool("motec"), "inspect", path]).stdout.decode()
        return int(re.search(r"tensors: (\d+), kv caches: (\d+)", txt).group(1)), \
            int(re.search(r"tensors: (\d+), kv caches: (\d+)", txt).group(2))
    (tp, kp), (ts, ks) = tensors(plain), tensors(out)
    per = 4 if base.cfg.qkv_bias else 2          # wk, wv (+ bk, bv)
    if (tp - ts, kp, ks) != (per * (L - first), 2 * L, 2 * first):
        E.fail(f"tensors {tp} -> {ts}, kv caches {kp} -> {ks}: want -{per * (L - first)} "
               f"tensors and {2 * L} -> {2 * first} caches")
    # Rejections: a block left empty, both options; one line, no output left.
    for bad, needle in ((["--kv-share", f"1:{100 * L}"], "leaving block 1 empty"),
                        (["--kv-share-boundary", str(L)], "leaving block 2 empty"),
                        (["--kv-share", "1:1", "--kv-share-boundary", "1"], "not both")):
        neg = os.path.join(work, "rejected.mote")
        if os.path.exists(neg):
            os.remove(neg)
        r = E.run([E.tool("motec"), "compile", src, "-o", neg, *bad], check=False)
        lines = [ln for ln in r.stderr.decode(errors="replace").splitlines() if ln.strip()]
        if r.returncode == 0 or len(lines) != 1 or needle not in lines[0] \
                or "mote-kv-share" not in lines[0] or os.path.exists(neg):
            E.fail(f"motec {' '.join(bad)}: want exit != 0, one line with {needle!r}, "
                   f"no output; got {r.returncode} {lines}")
    print(f"{name} {flag} {val}: boundary {first}/{L}, kv {want[0]} -> {want[1]} bytes/token, "
          f"tensors {tp} -> {ts}")
    return run_model.check(f"{name} {flag} {val}", out, ref, work)


if __name__ == "__main__":
    sys.exit(main())
