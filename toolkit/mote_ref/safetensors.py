"""Minimal safetensors reader/writer on numpy (no pip `safetensors` here).

Format: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}},
then the raw little-endian tensor bytes. BF16 has no numpy dtype, so it is
read as uint16 and widened to float32 by shifting into the high half.
"""
import json
import os
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
       "I32": np.int32, "I64": np.int64, "U8": np.uint8, "BF16": np.uint16}
_SIZE = {"F32": 4, "F16": 2, "F64": 8, "I32": 4, "I64": 8, "U8": 1, "BF16": 2}


def bf16_to_f32(u16):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """float32 -> uint16 bf16 bit patterns, round to nearest even (NaN kept)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        size = os.path.getsize(path)
        if n > size - 8:
            raise ValueError(f"{path}: header length {n} exceeds file size {size}")
        header = json.loads(f.read(n))
    return header, 8 + n


def load(path, to_f32=True):
    """Returns {name: np.ndarray}. With to_f32, BF16/F16 become float32."""
    header, base = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _NP:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e and base + e <= len(mm) and e - b == count * _SIZE[dt]):
            raise ValueError(f"{path}: {name}: bad data_offsets {b},{e}")
        arr = np.frombuffer(mm, dtype=_NP[dt], count=count, offset=base + b).reshape(shape)
        if to_f32 and dt == "BF16":
            arr = bf16_to_f32(arr).reshape(shape)
        elif to_f32 and dt == "F16":
            arr = arr.astype(np.float32)
        out[name] = arr
    return out


class StreamWriter:
    """Writes a safetensors file whose tensor list is known up front and whose
    data is produced chunk by chunk, so a multi-GB file needs little RAM.

    specs: list of (name, dtype_str, shape). Call write(name, chunk) in spec
    order; chunks are C-ordered pieces of the tensor in its on-disk dtype.
    """

    def __init__(self, path, specs, metadata=None):
        self.path = path
        header = {}
        off = 0
        self.order = []
        for name, dt, shape in specs:
            n = int(np.prod(shape)) * _SIZE[dt]
            header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
            self.order.append((name, n))
            off += n
        if metadata:
            header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
        hj = json.dumps(header, separators=(",", ":")).encode()
        hj += b" " * ((8 - len(hj) % 8) % 8)  # align data start to 8 bytes
        self.f = open(path + ".tmp", "wb")
        self.f.write(struct.pack("<Q", len(hj)))
        self.f.write(hj)
        self.idx = 0
        self.left = self.order[0][1] if self.order else 0

    def write(self, name, chunk):
        exp_name, _ = self.order[self.idx]
        if name != exp_name:
            raise ValueError(f"expected tensor {exp_name}, got {name}")
        data = np.ascontiguousarray(chunk).tobytes()
        if len(data) > self.left:
            raise ValueError(f"{name}: too much data")
        self.f.write(data)
        self.left -= len(data)
        if self.left == 0:
            self.idx += 1
            if self.idx < len(self.order):
                self.left = self.order[self.idx][1]

    def close(self):
        if self.idx != len(self.order):
            raise ValueError(f"incomplete safetensors file: stopped at tensor {self.idx}")
        self.f.close()
        os.replace(self.path + ".tmp", self.path)


def save(path, tensors, metadata=None):
    """Small-file convenience: tensors = {name: np.ndarray (f32/f16/i32/...)}."""
    rev = {np.dtype(v): k for k, v in _NP.items() if k != "BF16"}
    specs = [(n, rev[np.dtype(a.dtype)], a.shape) for n, a in tensors.items()]
    w = StreamWriter(path, specs, metadata)
    for n, a in tensors.items():
        w.write(n, a)
    w.close()
