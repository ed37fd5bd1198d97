"""Independent check of mote-plan-memory output (reads printed IR on stdin).

Re-derives each arena value's live range from the printed IR (definition op
index .. last use; arguments at 0, return keeps its operands alive) and fails
if two values that are live at the same time share a byte, if an offset is
not 64-byte aligned, or if a value ends past mote.arena_size.
"""
import re
import sys

OFFSET = re.compile(r"mote\.offset = (\d+) : i64")


def nbytes(type_text):
    dims = re.findall(r"tensor<([^>]*)>", type_text)[-1].split("x")[:-1]
    n = 1
    for d in dims:
        n *= int(d)
    return 4 * n


def check_func(header, body):
    values = {}  # name -> [offset, size, first, last]
    arena = int(re.search(r"mote\.arena_size = (\d+)", header).group(1))
    for name, ty, off in re.findall(
            r"(%arg\d+): (tensor<[^>]*>) \{mote\.offset = (\d+) : i64\}", header):
        values[name] = [int(off), nbytes(ty), 0, 0]
    for i, line in enumerate(body, start=1):
        m = re.match(r"\s*(%\d+) = (mote\.\w+)(.*)", line)
        uses = re.findall(r"%\w+", line if not m else m.group(3))
        for u in uses:
            if u in values:
                values[u][3] = max(values[u][3], i)
        if m and m.group(2) not in ("mote.weight", "mote.kv_append"):
            off = OFFSET.search(line)
            if not off:
                sys.exit("no mote.offset on: " + line.strip())
            values[m.group(1)] = [int(off.group(1)), nbytes(line), i, i]
    items = list(values.items())
    for name, (off, size, first, last) in items:
        if off % 64:
            sys.exit(f"{name}: offset {off} not 64-byte aligned")
        if off + size > arena:
            sys.exit(f"{name}: [{off}, {off + size}) past arena {arena}")
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            na, (oa, sa, fa, la) = items[a]
            nb, (ob, sb, fb, lb) = items[b]
            if fa <= lb and fb <= la and oa < ob + sb and ob < oa + sa:
                sys.exit(f"{na} and {nb} are live together and share bytes")
    return len(items)


def main():
    lines = sys.stdin.read().splitlines()
    checked = 0
    for i, line in enumerate(lines):
        if line.strip().startswith("func.func") and "mote.arena_size" in line:
            body = []
            for inner in lines[i + 1:]:
                if inner.strip() == "}":
                    break
                body.append(inner)
            checked += check_func(line, body)
    if checked == 0:
        sys.exit("no planned function found")
    print(f"OK: {checked} arena values checked")


main()
