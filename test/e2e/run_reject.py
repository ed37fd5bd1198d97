#!/usr/bin/python3
"""e2e_tinystories-3M-kvshared: a natively KV-shared model is rejected (until
KV sharing is implemented) with a non-zero exit, exactly one stderr line that
names num_kv_shared_layers, and no bundle left behind.
"""
import os
import sys

import e2e_common as E


def main():
    work = E.work_dir("tinystories-3M-kvshared")
    src = E.model_path("tinystories-3M-kvshared", work)
    out = os.path.join(work, "kvshared.mote")
    if os.path.exists(out):
        os.remove(out)
    r = E.run([E.tool("motec"), "compile", src, "-o", out, "-q"], check=False)
    lines = [ln for ln in r.stderr.decode(errors="replace").splitlines() if ln.strip()]
    if r.returncode == 0:
        E.fail("motec accepted a model with num_kv_shared_layers")
    if len(lines) != 1 or "num_kv_shared_layers" not in lines[0]:
        E.fail(f"want one stderr line naming num_kv_shared_layers, got {lines}")
    if os.path.exists(out):
        E.fail(f"motec failed but left {out}")
    print(f"kvshared: rejected (exit {r.returncode}): {lines[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
