#!/usr/bin/python3
"""Pick the token-bucket set that minimises expected prefill time.

Given a prompt-length histogram and per-bucket call latencies measured by
`mote-bench --prompt-lengths ... --json` (its "bucket_latencies"), choose at
most --max-graphs token buckets among the measured ones so that the expected
prefill time over the histogram is least, when every prompt is cut the way
the runtime cuts it (docs/buckets.md): the least-cost sequence of chunks of
bucket sizes, only the last chunk padded, and a padded chunk never running
past --context; a chunk before the last costs measured_s x mid_share (it
skips the logits). Reports the expected time and padding waste (padded rows
/ real rows) of the chosen set next to a fixed set.

    python3 toolkit/buckets_auto.py --histogram lengths.txt \
        --latencies bench.json --max-graphs 4 [--fixed 1,8,32,128] [--json]

Histogram file: one "LENGTH COUNT" pair per line ("LENGTH" alone counts 1);
blank lines and lines starting with '#' are ignored.
"""
import argparse
import itertools
import json
import math
import sys

MAX_SUBSETS = 2_000_000


class Error(Exception):
    pass


def read_histogram(path):
    hist = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise Error(f"{path}: cannot read: {e.strerror}")
    for no, line in enumerate(lines, 1):
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        if len(f) > 2 or not all(x.isdigit() for x in f):
            raise Error(f"{path}: line {no}: expected 'LENGTH [COUNT]', got {line.strip()!r}")
        length, count = int(f[0]), int(f[1]) if len(f) == 2 else 1
        if length < 1:
            raise Error(f"{path}: line {no}: length must be at least 1")
        hist[length] = hist.get(length, 0) + count
    if not hist or sum(hist.values()) == 0:
        raise Error(f"{path}: no prompt lengths")
    return hist


def read_latencies(path):
    try:
        doc = json.load(open(path, encoding="utf-8"))
    except OSError as e:
        raise Error(f"{path}: cannot read: {e.strerror}")
    except ValueError as e:
        raise Error(f"{path}: not JSON: {e}")
    rows = doc.get("bucket_latencies") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows:
        raise Error(f"{path}: bucket_latencies: missing (mote-bench --prompt-lengths --json)")
    lat, mid = {}, {}
    for i, r in enumerate(rows):
        t = s = None
        share = 1.0
        if isinstance(r, dict):
            t, s, share = r.get("tokens"), r.get("measured_s"), r.get("mid_share", 1.0)
        if not isinstance(t, int) or t < 1 or not isinstance(s, (int, float)) or not s > 0:
            raise Error(f"{path}: bucket_latencies[{i}]: needs tokens >= 1 and measured_s > 0")
        if not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise Error(f"{path}: bucket_latencies[{i}]: mid_share must be in (0, 1]")
        lat[t], mid[t] = float(s), float(s) * float(share)
    return lat, mid


def plan(length, buckets, cost, mid, context):
    """Least-cost chunking of `length` tokens from position 0, as the runtime
    does it (a chunk before the last skips the logits: mid cost): returns
    (seconds, padded rows) or (inf, 0) when no chunking fits."""
    best = [0.0] + [math.inf] * length
    pad = [0] * (length + 1)
    for r in range(1, length + 1):
        start = length - r
        for t in sorted(buckets, reverse=True):  # ties: fewer calls
            if t < r:
                c, p = mid[t] + best[r - t], pad[r - t]
            elif t == r:
                c, p = cost[t], 0
            elif context is None or start + t <= context:
                c, p = cost[t], t - r
            else:
                continue
            if c < best[r]:
                best[r], pad[r] = c, p
    return best[length], pad[length]


def evaluate(buckets, hist, cost, mid, context):
    total = sum(hist.values())
    time = waste = real = 0.0
    for length, n in hist.items():
        s, p = plan(length, buckets, cost, mid, context)
        if math.isinf(s):
            return math.inf, math.inf
        time += n * s
        waste += n * p
        real += n * length
    return time / total, waste / real


def choose(hist, cost, mid, max_graphs, context):
    cands = sorted(cost)
    k_max = min(max_graphs, len(cands))
    n_sub = sum(math.comb(len(cands), k) for k in range(1, k_max + 1))
    if n_sub > MAX_SUBSETS:
        raise Error(f"{n_sub} candidate sets: measure fewer buckets or lower --max-graphs")
    best = None
    for k in range(1, k_max + 1):
        for sub in itertools.combinations(cands, k):
            t, w = evaluate(sub, hist, cost, mid, context)
            key = (t, k, sub)
            if best is None or key < best[0]:
                best = (key, w)
    (t, _, sub), w = best
    if math.isinf(t):
        raise Error("no bucket set covers every prompt length within --context")
    return list(sub), t, w


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--histogram", required=True)
    ap.add_argument("--latencies", required=True, help="mote-bench --prompt-lengths --json output")
    ap.add_argument("--max-graphs", type=int, required=True,
                    help="most token buckets (prefill graphs per context bucket)")
    ap.add_argument("--fixed", default="1,8,32,128", help="set to compare against")
    ap.add_argument("--context", type=int, default=None,
                    help="session context: padding never runs past it (default: no limit)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        if a.max_graphs < 1:
            raise Error("--max-graphs must be at least 1")
        hist = read_histogram(a.histogram)
        cost, mid = read_latencies(a.latencies)
        try:
            fixed = [int(x) for x in a.fixed.split(",")]
        except ValueError:
            raise Error(f"--fixed {a.fixed}: not a list of token counts")
        missing = [t for t in fixed if t not in cost]
        if missing:
            raise Error(f"--fixed: bucket(s) {missing} not measured in {a.latencies}")
        if a.context is not None and max(hist) > a.context:
            raise Error(f"{a.histogram}: length {max(hist)} exceeds --context {a.context}")
        chosen, t, w = choose(hist, cost, mid, a.max_graphs, a.context)
        ft, fw = evaluate(fixed, hist, cost, mid, a.context)
    except Error as e:
        print(f"buckets_auto: error: {e}", file=sys.stderr)
        return 1
    if math.isinf(ft):  # the fixed set cannot cover a length within --context
        ft = fw = None
    out = {"buckets": chosen, "expected_prefill_s": t, "padding_waste": w,
           "fixed": {"buckets": fixed, "expected_prefill_s": ft, "padding_waste": fw},
           "speedup_vs_fixed": ft / t if ft is not None and t > 0 else None,
           "prompts": sum(hist.values()), "max_graphs": a.max_graphs}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"chosen buckets: {','.join(map(str, chosen))}  expected prefill "
              f"{t * 1e3:.4f} ms, padding waste {w:.4f}")
        if ft is None:
            print(f"fixed  buckets: {','.join(map(str, fixed))}  cannot cover every length "
                  "within --context")
        else:
            print(f"fixed  buckets: {','.join(map(str, fixed))}  expected prefill "
                  f"{ft * 1e3:.4f} ms, padding waste {fw:.4f}  "
                  f"({ft / t:.3f}x the chosen set's time)")
        print(f"compile with: motec compile ... --buckets prefill={','.join(map(str, chosen))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
