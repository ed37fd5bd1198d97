#!/usr/bin/python3
"""Text-level rewrites of motec's emitted `mote` IR, for the "runtime knows ops,
not models" test. Works on one-op-per-line MLIR (custom or generic form).

  mlir_rewrite.py swap-qk IN OUT            k projection moved before q, every layer
  mlir_rewrite.py drop-ffn LAYER IN OUT     layer LAYER's feed-forward block removed
"""
import re
import sys

VAL = r"%[A-Za-z0-9_.$-]+"
DEF_RE = re.compile(rf"^\s*({VAL})(?::\d+)?\s*=\s*(.*)$")
OP_RE = re.compile(r'"?(mote\.\w+|func\.\w+)"?')
CLOSE_RE = re.compile(r"^\s*}\s*(loc\(.*\))?\s*$")   # "} loc(#loc58)" with debug info
SYM_RE = re.compile(r"@([A-Za-z0-9_.$-]+)")
# Ops without side effects: dead ones of these may be erased.
PURE = {"mote.weight", "mote.rms_norm", "mote.linear", "mote.swiglu", "mote.add"}


class Op:
    def __init__(self, text):
        self.text = text
        m = DEF_RE.match(text)
        self.result = m.group(1) if m else None
        rhs = m.group(2) if m else text
        om = OP_RE.search(rhs)
        self.name = om.group(1) if om else None
        self.operands = re.findall(rf"({VAL})(?![A-Za-z0-9_.$-])", rhs)
        sm = SYM_RE.search(rhs)
        self.symbol = sm.group(1) if sm else None


def split_funcs(lines):
    """Yields (start, end) line ranges of func bodies (exclusive of braces)."""
    i = 0
    while i < len(lines):
        ln = lines[i]
        if "func.func" in ln and ln.rstrip().endswith("{"):
            indent = len(ln) - len(ln.lstrip())
            j = i + 1
            while not (CLOSE_RE.match(lines[j]) and len(lines[j]) - len(lines[j].lstrip()) == indent):
                j += 1
                if j == len(lines):
                    raise ValueError(f"unterminated func.func at line {i + 1}")
            yield i + 1, j
            i = j
        i += 1


def check_ssa(ops, header):
    defined = set(re.findall(VAL, header))
    for op in ops:
        for v in op.operands:
            if v not in defined:
                raise ValueError(f"use before def of {v}: {op.text.strip()}")
        if op.result:
            defined.add(op.result)


def find_user_of_weight(ops, sym, opname):
    """Index of the op `opname` that uses the value of `mote.weight @sym`."""
    wvals = {op.result for op in ops if op.name == "mote.weight" and op.symbol == sym}
    hits = [i for i, op in enumerate(ops) if op.name == opname and wvals & set(op.operands)]
    if len(hits) != 1:
        raise ValueError(f"expected one {opname} using @{sym}, found {len(hits)}")
    return hits[0]


def move_before(ops, src, dst):
    """Moves ops[src] (and the ops in [dst, src) it depends on) to index dst."""
    need, moved = set(ops[src].operands), [src]
    for i in range(src - 1, dst - 1, -1):
        if ops[i].result in need:
            moved.append(i)
            need |= set(ops[i].operands)
    moved.sort()
    block = [ops[i] for i in moved]
    rest = [op for i, op in enumerate(ops) if i not in set(moved)]
    return rest[:dst] + block + rest[dst:]


def swap_qk(ops, layer):
    iq = find_user_of_weight(ops, f"layers.{layer}.wq", "mote.linear")
    ik = find_user_of_weight(ops, f"layers.{layer}.wk", "mote.linear")
    if ik < iq:
        return move_before(ops, iq, ik)
    return move_before(ops, ik, iq)


def rename_uses(op, old, new):
    op.text = re.sub(re.escape(old) + r"(?![A-Za-z0-9_.$-])", new, op.text)
    op.operands = [new if v == old else v for v in op.operands]


def drop_ffn(ops, layer):
    inorm = find_user_of_weight(ops, f"layers.{layer}.ffn_norm", "mote.rms_norm")
    wval = {op.result for op in ops if op.symbol == f"layers.{layer}.ffn_norm"}
    x = [v for v in ops[inorm].operands if v not in wval][0]    # pre-FFN residual
    adds = [i for i in range(inorm + 1, len(ops))
            if ops[i].name == "mote.add" and x in ops[i].operands]
    if not adds:
        raise ValueError(f"no residual add of {x} after layer {layer}'s ffn_norm")
    y = ops[adds[0]].result
    del ops[adds[0]]
    for op in ops[adds[0]:]:
        rename_uses(op, y, x)
    n0 = len(ops)
    while True:   # erase the FFN chain, now dead
        used = {v for op in ops for v in op.operands}
        dead = [i for i, op in enumerate(ops) if op.name in PURE and op.result not in used]
        if not dead:
            break
        ops = [op for i, op in enumerate(ops) if i not in set(dead)]
    if n0 - len(ops) < 5:
        raise ValueError(f"layer {layer}: only {n0 - len(ops)} dead ops erased")
    return ops


def rewrite(text, fn):
    lines = text.split("\n")
    out, last, n = [], 0, 0
    for s, e in split_funcs(lines):
        ops = [Op(t) for t in lines[s:e]]
        new = fn(ops)
        check_ssa([o for o in new if o.name], lines[s - 1])
        out += lines[last:s] + [o.text for o in new]
        last, n = e, n + 1
    if n == 0:
        raise ValueError("no func.func found")
    return "\n".join(out + lines[last:])


def n_layers(text):
    return 1 + max(int(m) for m in re.findall(r"@layers\.(\d+)\.", text))


def main(argv):
    if argv[1] == "swap-qk":
        src, dst = argv[2], argv[3]
        text = open(src).read()
        L = n_layers(text)

        def fn(ops):
            for i in range(L):
                ops = swap_qk(ops, i)
            return ops
    elif argv[1] == "drop-ffn":
        layer, src, dst = int(argv[2]), argv[3], argv[4]
        text = open(src).read()

        def fn(ops):
            return drop_ffn(ops, layer)
    else:
        print(__doc__)
        return 2
    new = rewrite(text, fn)
    if new == text:
        raise ValueError("rewrite changed nothing")
    open(dst, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
