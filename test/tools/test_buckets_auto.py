#!/usr/bin/python3
"""Tests toolkit/buckets_auto.py (docs/buckets.md): the chosen bucket set, its
expected prefill time and padding waste, and the fixed set's, against an
independent computation that enumerates chunk multisets instead of running
the runtime's DP; a hand-checked case; the context limit; bad input."""
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "toolkit", "buckets_auto.py")


def run(*args):
    p = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def best_cost(length, buckets, cost, mid, context=None):
    """Least (cost, padded rows) by enumerating how many full chunks of each
    bucket are used, all at their mid cost (the order does not matter), and
    then either nothing left, one of them being the last chunk (full cost),
    or one padded last chunk of a larger bucket."""
    best = (math.inf, 0)
    ranges = [range(length // t + 1) for t in buckets]
    for counts in itertools.product(*ranges):
        covered = sum(n * t for n, t in zip(counts, buckets))
        if covered > length:
            continue
        c = sum(n * mid[t] for n, t in zip(counts, buckets))
        rest = length - covered
        if rest == 0:
            for n, t in zip(counts, buckets):
                if n:
                    best = min(best, (c - mid[t] + cost[t], 0))
            continue
        for t in buckets:
            if t > rest and (context is None or covered + t <= context):
                best = min(best, (c + cost[t], t - rest))
    return best


def expected(hist, buckets, cost, mid, context=None):
    n = sum(hist.values())
    t = w = real = 0.0
    for length, k in hist.items():
        c, p = best_cost(length, buckets, cost, mid, context)
        t += k * c
        w += k * p
        real += k * length
    return t / n, w / real


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def latencies(d, cost, share=None):
    rows = [{"tokens": t, "measured_s": s, "estimated_s": 1.0} for t, s in cost.items()]
    for r in rows:
        if share:
            r["mid_share"] = share[r["tokens"]]
    return write(d, "bench.json", json.dumps({"bucket_latencies": rows}))


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as d:
        # 1. Against the enumeration, for several graph limits.
        cost = {1: 1.0e-3, 4: 1.6e-3, 8: 2.1e-3, 16: 3.3e-3, 40: 6.9e-3}
        share = {1: 0.5, 4: 0.6, 8: 0.7, 16: 0.8, 40: 0.9}
        mid = {t: cost[t] * share[t] for t in cost}
        hist = {1: 7, 3: 4, 9: 3, 17: 2, 33: 2, 41: 1}
        hpath = write(d, "h.txt", "# length count\n" + "".join(
            f"{l} {k}\n" for l, k in hist.items()))
        lpath = latencies(d, cost, share)
        for max_graphs in (1, 2, 3):
            rc, out, err = run("--histogram", hpath, "--latencies", lpath,
                               "--max-graphs", str(max_graphs), "--fixed", "1,8,40", "--json")
            check(rc == 0, f"rc {rc}: {err}")
            got = json.loads(out)
            want = None
            for k in range(1, max_graphs + 1):
                for sub in itertools.combinations(sorted(cost), k):
                    t, w = expected(hist, sub, cost, mid)
                    key = (t, k, sub)
                    if want is None or key < want[0]:
                        want = (key, w)
            (wt, _, wsub), ww = want
            check(got["buckets"] == list(wsub), f"max {max_graphs}: {got['buckets']} != {wsub}")
            check(abs(got["expected_prefill_s"] - wt) <= 1e-12 * wt, f"time {got} vs {wt}")
            check(abs(got["padding_waste"] - ww) <= 1e-12, f"waste {got} vs {ww}")
            ft, fw = expected(hist, (1, 8, 40), cost, mid)
            check(abs(got["fixed"]["expected_prefill_s"] - ft) <= 1e-12 * ft, "fixed time")
            check(abs(got["fixed"]["padding_waste"] - fw) <= 1e-12, "fixed waste")
            check(got["fixed"]["expected_prefill_s"] >= got["expected_prefill_s"] - 1e-15 or
                  max_graphs < 3, "chosen set slower than a fixed set it could pick")
            print(f"max-graphs {max_graphs}: {got['buckets']} {wt:.6g} s, waste {ww:.4f}")

        # 2. Hand-checked: one 3-token prompt; a 4-bucket call (1.5) beats
        # three 1-bucket calls (3.0); one padded row of three real ones.
        rc, out, err = run("--histogram", write(d, "h2.txt", "3\n"),
                           "--latencies", latencies(d, {1: 1.0, 4: 1.5}),
                           "--max-graphs", "1", "--fixed", "1", "--json")
        got = json.loads(out)
        check(rc == 0 and got["buckets"] == [4] and got["expected_prefill_s"] == 1.5 and
              abs(got["padding_waste"] - 1 / 3) < 1e-12 and
              got["fixed"]["expected_prefill_s"] == 3.0, f"hand case: {out} {err}")

        # 3. The context limit: a 30-token prompt in a 31-row context cannot
        # pad to 32, so only the 1-bucket plan is possible (ties: fewer graphs).
        rc, out, err = run("--histogram", write(d, "h3.txt", "30 1\n"),
                           "--latencies", latencies(d, {1: 1.0, 32: 1.2}),
                           "--max-graphs", "2", "--fixed", "1", "--context", "31", "--json")
        got = json.loads(out)
        check(rc == 0 and got["buckets"] == [1] and got["expected_prefill_s"] == 30.0,
              f"context case: {out} {err}")
        rc, out, err = run("--histogram", write(d, "h3.txt", "30 1\n"),
                           "--latencies", latencies(d, {1: 1.0, 32: 1.2}),
                           "--max-graphs", "2", "--fixed", "1", "--json")
        check(rc == 0 and json.loads(out)["buckets"] == [32], f"no context: {out}")

        # 4. Bad input: one line naming file and field, exit 1.
        rc, _, err = run("--histogram", write(d, "bad.txt", "5 2\nfive\n"), "--latencies",
                         lpath, "--max-graphs", "2", "--fixed", "1")
        check(rc == 1 and "bad.txt: line 2" in err and err.count("\n") == 1, err)
        rc, _, err = run("--histogram", hpath, "--latencies", lpath, "--max-graphs", "2",
                         "--fixed", "1,2")
        check(rc == 1 and "not measured" in err, err)
        rc, _, err = run("--histogram", hpath, "--latencies", write(d, "x.json", "{}"),
                         "--max-graphs", "2")
        check(rc == 1 and "bucket_latencies" in err, err)
    print("ok")


if __name__ == "__main__":
    main()
