"""Loaders: llama2.c v0/v1 checkpoints and Hugging Face Llama/Qwen2 dirs.

Every loader returns (Config, weights) where weights uses the compiler's
canonical names (compiler/ModelSpec.h): tok_embeddings, layers.{i}.wq, ...,
norm, output (absent when tied). Arrays are float32 numpy views/copies.
"""
import dataclasses
import json
import os
import struct

import numpy as np

from . import safetensors


@dataclasses.dataclass
class Config:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    max_seq_len: int
    head_dim: int = 0
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_style: str = "half"        # "interleaved" (llama2.c) | "half" (HF)
    tied: bool = True
    qkv_bias: bool = False
    arch: str = "llama"
    source_format: str = ""
    num_kv_shared_layers: int = 0   # the last N layers reuse layer L-N-1's K/V
    rope_scaling: dict = None       # Hugging Face rope_scaling (linear, llama3) or None

    def __post_init__(self):
        if not self.head_dim:
            self.head_dim = self.dim // self.n_heads


_LAYER_ORDER_V0 = ["attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]


def _layer_shapes(c):
    qd, kd = c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim
    return {"attn_norm": (c.dim,), "ffn_norm": (c.dim,), "wq": (qd, c.dim),
            "wk": (kd, c.dim), "wv": (kd, c.dim), "wo": (c.dim, qd),
            "w1": (c.hidden_dim, c.dim), "w2": (c.dim, c.hidden_dim),
            "w3": (c.hidden_dim, c.dim)}


class _Reader:
    """Sequential f32 reader over a memory-mapped file, bounds-checked."""

    def __init__(self, path, offset):
        self.path = path
        self.mm = np.memmap(path, dtype=np.uint8, mode="r")
        self.off = offset

    def take(self, shape):
        n = int(np.prod(shape))
        if self.off + 4 * n > len(self.mm):
            raise ValueError(f"{self.path}: truncated (need {self.off + 4 * n} bytes, "
                             f"have {len(self.mm)})")
        a = np.frombuffer(self.mm, dtype="<f4", count=n, offset=self.off).reshape(shape)
        self.off += 4 * n
        return a


def load_llama2c(path):
    with open(path, "rb") as f:
        head = f.read(8)
    magic = struct.unpack("<I", head[:4])[0]
    if magic == 0x616B3432:
        return _load_llama2c_v1(path)
    return _load_llama2c_v0(path)


def _load_llama2c_v0(path):
    with open(path, "rb") as f:
        dim, hidden, nl, nh, nkv, vocab, seq = struct.unpack("<7i", f.read(28))
    shared = vocab > 0
    c = Config(dim, hidden, nl, nh, nkv, abs(vocab), seq, rope_style="interleaved",
               tied=shared, source_format="llama2c-v0")
    r = _Reader(path, 28)
    w = {"tok_embeddings": r.take((c.vocab_size, dim))}
    shapes = _layer_shapes(c)
    # run.c stores each kind of layer tensor for all layers contiguously.
    for kind in _LAYER_ORDER_V0:
        for i in range(nl):
            w[f"layers.{i}.{kind}"] = r.take(shapes[kind])
    w["norm"] = r.take((dim,))
    r.take((seq, c.head_dim // 2))  # freq_cis_real (unused, run.c skips it)
    r.take((seq, c.head_dim // 2))  # freq_cis_imag
    if not shared:
        w["output"] = r.take((c.vocab_size, dim))
    return c, w


def _load_llama2c_v1(path):
    with open(path, "rb") as f:
        hdr = f.read(256)
    magic, version = struct.unpack("<Ii", hdr[:8])
    if version != 1:
        raise ValueError(f"{path}: llama2.c version {version} not supported (only 1)")
    dim, hidden, nl, nh, nkv, vocab, seq = struct.unpack("<7i", hdr[8:36])
    shared = hdr[36] != 0
    c = Config(dim, hidden, nl, nh, nkv, vocab, seq, rope_style="interleaved",
               tied=shared, source_format="llama2c-v1")
    r = _Reader(path, 256)
    shapes = _layer_shapes(c)
    w = {}
    for kind in ["attn_norm", "ffn_norm"]:
        for i in range(nl):
            w[f"layers.{i}.{kind}"] = r.take(shapes[kind])
    w["norm"] = r.take((dim,))
    w["tok_embeddings"] = r.take((vocab, dim))
    for kind in ["wq", "wk", "wv", "wo", "w1", "w2", "w3"]:
        for i in range(nl):
            w[f"layers.{i}.{kind}"] = r.take(shapes[kind])
    if not shared:
        w["output"] = r.take((vocab, dim))
    return c, w


_HF_NAMES = {
    "self_attn.q_proj.weight": "wq", "self_attn.k_proj.weight": "wk",
    "self_attn.v_proj.weight": "wv", "self_attn.o_proj.weight": "wo",
    "self_attn.q_proj.bias": "bq", "self_attn.k_proj.bias": "bk",
    "self_attn.v_proj.bias": "bv",
    "mlp.gate_proj.weight": "w1", "mlp.down_proj.weight": "w2", "mlp.up_proj.weight": "w3",
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "ffn_norm",
}


def _canonical_hf(name):
    if name == "model.embed_tokens.weight":
        return "tok_embeddings"
    if name == "model.norm.weight":
        return "norm"
    if name == "lm_head.weight":
        return "output"
    parts = name.split(".", 3)
    if len(parts) == 4 and parts[0] == "model" and parts[1] == "layers":
        kind = _HF_NAMES.get(parts[3])
        if kind:
            return f"layers.{int(parts[2])}.{kind}"
    return None


def load_hf(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    mt = cfg.get("model_type", "llama")
    if mt not in ("llama", "qwen2"):
        raise ValueError(f"{d}: model_type {mt} not supported")
    kvs = int(cfg.get("num_kv_shared_layers") or 0)
    if not 0 <= kvs < cfg["num_hidden_layers"]:
        raise ValueError(f"{d}: num_kv_shared_layers {kvs} out of range")
    nh = cfg["num_attention_heads"]
    c = Config(dim=cfg["hidden_size"], hidden_dim=cfg["intermediate_size"],
               n_layers=cfg["num_hidden_layers"], n_heads=nh,
               n_kv_heads=cfg.get("num_key_value_heads", nh),
               vocab_size=cfg["vocab_size"],
               max_seq_len=cfg.get("max_position_embeddings", 2048),
               head_dim=cfg.get("head_dim") or cfg["hidden_size"] // nh,
               norm_eps=cfg.get("rms_norm_eps", 1e-6),
               rope_theta=cfg.get("rope_theta", 10000.0), rope_style="half",
               tied=cfg.get("tie_word_embeddings", False),
               qkv_bias=(mt == "qwen2") or cfg.get("attention_bias", False),
               arch=mt, source_format="hf-safetensors", num_kv_shared_layers=kvs,
               rope_scaling=cfg.get("rope_scaling"))
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for fn in files:
        for name, arr in safetensors.load(os.path.join(d, fn)).items():
            canon = _canonical_hf(name)
            if canon is None and name.endswith(".quant_f"):  # QAT clipping factors
                base = _canonical_hf(name[:-len(".quant_f")])
                canon = base + ".quant_f" if base else None
            if canon is None:
                continue
            w[canon] = arr
    if c.tied:
        w.pop("output", None)
    return c, w


def load(path):
    """Loads a llama2.c .bin file, a dir holding one, or an HF dir."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "config.json")):
            return load_hf(path)
        bins = [f for f in sorted(os.listdir(path)) if f.endswith(".bin") and not f.startswith("tok")]
        if len(bins) != 1:
            raise ValueError(f"{path}: expected one llama2.c .bin checkpoint, found {bins}")
        path = os.path.join(path, bins[0])
    return load_llama2c(path)
