"""Minimal reader of a Mote bundle's manifest (compiler/bundle/mote_bundle.proto)
for tests: hand-written protobuf wire decoding of the few fields they need
(python3-protobuf is not a dependency). Returns plain dicts."""
import struct

HEADER = 64


def _varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def _fields(b):
    """Yields (field number, wire type, value): ints for varint/fixed, bytes for len."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif wt == 5:
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        elif wt == 2:
            n, i = _varint(b, i)
            v = bytes(b[i:i + n])
            i += n
        else:
            raise ValueError(f"wire type {wt}")
        yield f, wt, v


def _packed(v, wt):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def _msg(b, spec):
    """spec: field -> (name, kind) with kind 'int', 'str', 'packed', or a
    (sub spec, repeated) tuple."""
    d = {}
    for name, kind in spec.values():  # proto3 leaves defaults out of the wire
        if kind == "packed" or (isinstance(kind, tuple) and kind[1]):
            d[name] = []
        elif kind == "int":
            d[name] = 0
        elif kind == "str":
            d[name] = ""
    for f, wt, v in _fields(b):
        if f not in spec:
            continue
        name, kind = spec[f]
        if kind == "int":
            d[name] = v
        elif kind == "str":
            d[name] = v.decode()
        elif kind == "packed":
            d[name] += _packed(v, wt)
        else:
            sub, rep = kind
            m = _msg(v, sub)
            if rep:
                d[name].append(m)
            else:
                d[name] = m
    return d


QUANT = {1: ("bits", "int"), 2: ("group_size", "int"), 3: ("grid", "str"),
         4: ("scale_dtype", "int"), 5: ("scale_offset", "int"), 6: ("scale_size", "int"),
         7: ("layout", "str")}
TENSOR = {1: ("name", "str"), 2: ("dtype", "int"), 3: ("shape", "packed"), 4: ("section", "int"),
          5: ("offset", "int"), 6: ("size", "int"), 7: ("quant", (QUANT, False))}
SECTION = {1: ("name", "str"), 2: ("offset", "int"), 3: ("size", "int")}
VALUE = {1: ("kind", "int"), 2: ("dtype", "int"), 3: ("shape", "packed"), 5: ("ref", "int")}
STEP = {1: ("op", "int"), 2: ("operands", "packed"), 6: ("kernel", "str"), 7: ("loc", "str")}
GRAPH = {1: ("name", "str"), 6: ("values", (VALUE, True)), 7: ("steps", (STEP, True))}
KVCACHE = {1: ("name", "str"), 2: ("width", "int"), 3: ("dtype", "int"),
           65: ("group_size", "int"), 66: ("scale_dtype", "int"), 67: ("layout", "str")}
MANIFEST = {5: ("sections", (SECTION, True)), 6: ("tensors", (TENSOR, True)),
            7: ("kv_caches", (KVCACHE, True)), 8: ("graphs", (GRAPH, True))}

DTYPES = {1: "f32", 2: "f16", 3: "bf16", 4: "i32", 16: "q2", 17: "q4", 18: "q8"}


def read(path):
    """Returns (manifest dict, file bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    off, size = struct.unpack_from("<QQ", data, 16)
    return _msg(data[off:off + size], MANIFEST), data


def tensor_bytes(manifest, data, t, offset=None, size=None):
    sec = manifest["sections"][t.get("section", 0)]
    o = sec["offset"] + (t.get("offset", 0) if offset is None else offset)
    return data[o:o + (t.get("size", 0) if size is None else size)]
