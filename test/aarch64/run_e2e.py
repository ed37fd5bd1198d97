#!/usr/bin/env python3
"""AArch64 end to end: the AArch64 mote-run (NEON kernels, and MOTE_ISA=ref)
under qemu-aarch64 against the x86-64 mote-run on the same bundle.

Checks, for a tokenized prompt: the AArch64 tokenizer gives the same ids; the
logits of every prompt position (--step) and of the prefill graph agree with
the x86-64 ones within REL_TOL * max|logit| per row; greedy generation gives
identical ids. Numbers under qemu are correctness only, never speed.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

REL_TOL = 1e-4
PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play"
N_GEN = 32


def fail(msg):
    print(f"aarch64_e2e: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, env=None, timeout=300):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=timeout)
    except FileNotFoundError as e:
        fail(f"cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(cmd)} did not finish in {timeout} s")
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}\n"
             f"stderr: {r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout.decode().strip()


class Runner:
    def __init__(self, name, prefix, mote_run, isa=None):
        self.name, self.prefix, self.mote_run = name, prefix, mote_run
        self.env = dict(os.environ)
        self.env.pop("MOTE_ISA", None)
        if isa:
            self.env["MOTE_ISA"] = isa

    def __call__(self, bundle, *args):
        return run([*self.prefix, self.mote_run, bundle, *args], env=self.env)

    def tokenize(self, bundle, text):
        return [int(t) for t in self(bundle, "-p", text, "--tokenize").split()]

    def logits(self, bundle, ids, step, work):
        f = os.path.join(work, f"{self.name}-{'step' if step else 'prefill'}.f32")
        args = ["--ids", " ".join(map(str, ids)), "--dump-logits", f, "-n", "0",
                "--temp", "0", "--print-ids", "--threads", "2"]
        self(bundle, *args, *(["--step"] if step else []))
        a = np.fromfile(f, dtype="<f4")
        rows = len(ids) if step else 1
        if a.size == 0 or a.size % rows:
            fail(f"{self.name}: dump of {a.size} floats for {rows} rows")
        return a.reshape(rows, -1)

    def generate(self, bundle, ids):
        out = self(bundle, "--ids", " ".join(map(str, ids)), "-n", str(N_GEN),
                   "--temp", "0", "--print-ids", "--threads", "2")
        return [int(t) for t in out.split()]


def compare(label, got, want):
    if got.shape != want.shape:
        fail(f"{label}: shape {got.shape} vs {want.shape}")
    if not np.all(np.isfinite(got)):
        fail(f"{label}: non-finite logits")
    worst = 0.0
    for r in range(want.shape[0]):
        scale = float(np.abs(want[r]).max())
        d = float(np.abs(got[r].astype(np.float64) - want[r]).max())
        ratio = d / scale if scale > 0 else d
        worst = max(worst, ratio)
        if ratio > REL_TOL:
            fail(f"{label}: row {r}: max|d| {d:.3g} > {REL_TOL} * max|logit| {scale:.3g}")
    print(f"{label}: {want.shape[0]} rows, worst max|d|/max|logit| = {worst:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--sysroot", required=True)
    ap.add_argument("--arm-run", required=True, help="AArch64 mote-run")
    ap.add_argument("--host-run", required=True, help="x86-64 mote-run")
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--host-isa", default=None,
                    help="MOTE_ISA for the x86-64 run (e.g. ref: compare with "
                         "the portable kernels the AArch64 build also runs)")
    a = ap.parse_args()
    for f in (a.arm_run, a.host_run, a.bundle):
        if not os.path.isfile(f):
            fail(f"missing {f}")

    host = Runner("x86-64" + (f"-{a.host_isa}" if a.host_isa else ""), [],
                  a.host_run, isa=a.host_isa)
    qemu = [a.qemu, "-L", a.sysroot]
    arms = [Runner("aarch64-neon", qemu, a.arm_run),
            Runner("aarch64-ref", qemu, a.arm_run, isa="ref")]

    ids = host.tokenize(a.bundle, PROMPT)
    if len(ids) < 8:
        fail(f"prompt tokenized to only {ids}")
    arm_ids = arms[0].tokenize(a.bundle, PROMPT)
    if arm_ids != ids:
        fail(f"tokenizer differs: aarch64 {arm_ids} vs x86-64 {ids}")

    with tempfile.TemporaryDirectory() as work:
        want = {s: host.logits(a.bundle, ids, s, work) for s in (True, False)}
        want_gen = host.generate(a.bundle, ids)
        if len(want_gen) != N_GEN:
            fail(f"{host.name} generated {len(want_gen)} ids, expected {N_GEN}")
        for arm in arms:
            for step in (True, False):
                compare(f"{arm.name} vs {host.name} ({'step' if step else 'prefill'})",
                        arm.logits(a.bundle, ids, step, work), want[step])
            gen = arm.generate(a.bundle, ids)
            if gen != want_gen:
                fail(f"{arm.name}: greedy ids {gen} vs {host.name} {want_gen}")
            print(f"{arm.name}: {N_GEN} greedy ids identical to {host.name}")
    print("aarch64_e2e: OK")


if __name__ == "__main__":
    main()
