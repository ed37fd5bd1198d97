"""A trainable Llama forward with LoRA sites (float32 for training, float64 for checks).

The base model comes from mote_ref's loaders (llama2.c v0/v1, HF Llama/Qwen2 dirs).
Everything here works in Hugging Face's layout: a llama2.c base (interleaved RoPE
pairs) has its wq/wk rows permuted into HF's rotate-half order on load
(`to_hf_layout`), which leaves the logits unchanged. Adapters are therefore
always defined on HF's q_proj/k_proj row order, exactly as PEFT defines them on
the HF form of the same model; `hf_rows_to_interleaved` maps a B (or a merged
weight) back onto a llama2.c checkpoint's row order.

Maths (PEFT's LoRA, bias "none", fan_in_fan_out false):
    y = x W^T + b + s * (dropout(x) A^T) B^T,   A: (r, in), B: (out, r)
    s = alpha / r, or alpha / sqrt(r) with use_rslora.
Base weights are frozen buffers; only A and B are parameters.
"""
import dataclasses
import math

import numpy as np
import torch

import mote_ref.loaders as loaders

# Mote's canonical weight kind <-> PEFT/HF module name, and where it lives.
TARGETS = {  # short CLI name: (HF module, canonical kind, HF parent)
    "q": ("q_proj", "wq", "self_attn"), "k": ("k_proj", "wk", "self_attn"),
    "v": ("v_proj", "wv", "self_attn"), "o": ("o_proj", "wo", "self_attn"),
    "gate": ("gate_proj", "w1", "mlp"), "up": ("up_proj", "w3", "mlp"),
    "down": ("down_proj", "w2", "mlp"),
}
MODULE_TO_KIND = {v[0]: v[1] for v in TARGETS.values()}
MODULE_PARENT = {v[0]: v[2] for v in TARGETS.values()}
ALL_MODULES = [TARGETS[k][0] for k in ("q", "k", "v", "o", "gate", "up", "down")]


def parse_targets(spec):
    """'q,k,v' or 'q_proj,v_proj' or 'all' -> ordered list of HF module names."""
    if spec in ("all", "*"):
        return list(ALL_MODULES)
    out = []
    for t in (s.strip() for s in spec.split(",") if s.strip()):
        mod = TARGETS[t][0] if t in TARGETS else t
        if mod not in MODULE_TO_KIND:
            raise ValueError(f"unknown LoRA target {t!r} (use q,k,v,o,gate,up,down "
                             f"or {', '.join(ALL_MODULES)})")
        if mod not in out:
            out.append(mod)
    if not out:
        raise ValueError("no LoRA targets given")
    return [m for m in ALL_MODULES if m in out]


def _perm_interleaved_to_hf(n_heads, head_dim):
    """Row index map p with hf_rows = interleaved_rows[p]."""
    half = head_dim // 2
    p = np.empty(n_heads * head_dim, dtype=np.int64)
    for h in range(n_heads):
        for s in range(2):
            for j in range(half):
                p[h * head_dim + s * half + j] = h * head_dim + 2 * j + s
    return p


def interleaved_rows_to_hf(w, n_heads, head_dim):
    """Rows of a llama2.c wq/wk (or its bias / a B matrix) into HF rotate-half order."""
    return np.asarray(w)[_perm_interleaved_to_hf(n_heads, head_dim)]


def hf_rows_to_interleaved(w, n_heads, head_dim):
    """Inverse of interleaved_rows_to_hf: HF q/k rows back into llama2.c order."""
    p = _perm_interleaved_to_hf(n_heads, head_dim)
    w = np.asarray(w)
    out = np.empty_like(w)
    out[p] = w
    return out


def to_hf_layout(cfg, weights):
    """(cfg, weights) from mote_ref.loaders -> the same model in HF layout."""
    if cfg.rope_style == "half":
        return cfg, dict(weights)
    w = dict(weights)
    for i in range(cfg.n_layers):
        for kind, nh in (("wq", cfg.n_heads), ("wk", cfg.n_kv_heads), ("bq", cfg.n_heads),
                         ("bk", cfg.n_kv_heads)):
            k = f"layers.{i}.{kind}"
            if k in w:
                w[k] = interleaved_rows_to_hf(w[k], nh, cfg.head_dim)
    return dataclasses.replace(cfg, rope_style="half"), w


def load_base(path, quant=None):
    """Returns (hf_cfg, hf_weights, source_cfg).

    quant: None, or keyword arguments of mote_ref.quant.fake_quantize_weights
    (weights="w2", group=32, fmode="maxabs", embed=4, overrides={...}): the base
    becomes the float64 values Mote's quantized kernels compute with (the
    quantizer's reference), so an adapter can be fitted against a w2/w4 base.
    Row-wise quantization commutes with the q/k row permutation below.
    """
    src_cfg, w = loaders.load(path)
    if quant:
        from mote_ref import quant as Q
        w = Q.fake_quantize_weights(w, **quant)
    cfg, w = to_hf_layout(src_cfg, w)
    return cfg, w, src_cfg


def first_shared(cfg):
    return cfg.n_layers - cfg.num_kv_shared_layers


def site_exists(cfg, weights, layer, module):
    return f"layers.{layer}.{MODULE_TO_KIND[module]}" in weights


class LoraLlama(torch.nn.Module):
    """Causal Llama forward over (B, T) token batches with LoRA on chosen linears.

    sites: list of (layer, hf_module). Parameters are named A_{layer}_{module}
    and B_{layer}_{module}.
    """

    def __init__(self, cfg, weights, sites=(), r=8, alpha=16.0, rslora=False,
                 dropout=0.0, dtype=torch.float32, seed=0):
        super().__init__()
        if cfg.rope_style != "half":
            raise ValueError("LoraLlama works in HF layout; call to_hf_layout first")
        self.cfg, self.dtype = cfg, dtype
        self.r, self.alpha, self.rslora = int(r), float(alpha), bool(rslora)
        self.scaling = self.alpha / (math.sqrt(self.r) if self.rslora else self.r) if self.r else 0.0
        self.dropout = float(dropout)
        self.w = {k: torch.from_numpy(np.array(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
        if "output" not in self.w:
            self.w["output"] = self.w["tok_embeddings"]
        half = cfg.head_dim // 2
        inv = 1.0 / (float(cfg.rope_theta) ** (torch.arange(0, half, dtype=torch.float64) * 2 / cfg.head_dim))
        ang = torch.outer(torch.arange(cfg.max_seq_len, dtype=torch.float64), inv)
        self.cos, self.sin = torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)
        self.sites = []
        gen = torch.Generator().manual_seed(int(seed))
        for layer, mod in sites:
            W = self.w.get(f"layers.{layer}.{MODULE_TO_KIND[mod]}")
            if W is None:
                raise ValueError(f"layer {layer} has no {mod} (KV-shared layer?)")
            out_f, in_f = W.shape
            # PEFT's default init: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
            bound = 1.0 / math.sqrt(in_f)
            A = (torch.rand(self.r, in_f, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            self.register_parameter(f"A_{layer}_{mod}", torch.nn.Parameter(A.to(dtype)))
            self.register_parameter(f"B_{layer}_{mod}",
                                    torch.nn.Parameter(torch.zeros(out_f, self.r, dtype=dtype)))
            self.sites.append((int(layer), mod))
        self._site_set = set(self.sites)

    # --- adapter tensors -------------------------------------------------------
    def lora_tensors(self):
        """{(layer, module): (A, B)} as float64 numpy copies."""
        return {s: (getattr(self, f"A_{s[0]}_{s[1]}").detach().double().numpy().copy(),
                    getattr(self, f"B_{s[0]}_{s[1]}").detach().double().numpy().copy())
                for s in self.sites}

    def set_lora(self, tensors):
        with torch.no_grad():
            for (layer, mod), (A, B) in tensors.items():
                getattr(self, f"A_{layer}_{mod}").copy_(torch.from_numpy(np.asarray(A, dtype=np.float64)))
                getattr(self, f"B_{layer}_{mod}").copy_(torch.from_numpy(np.asarray(B, dtype=np.float64)))

    # --- forward ---------------------------------------------------------------
    def _lin(self, x, layer, kind, mod=None, bias=None):
        y = x @ self.w[f"layers.{layer}.{kind}"].T
        if bias is not None:
            b = self.w.get(f"layers.{layer}.{bias}")
            if b is not None:
                y = y + b
        if mod is not None and (layer, mod) in self._site_set:
            A = getattr(self, f"A_{layer}_{mod}")
            B = getattr(self, f"B_{layer}_{mod}")
            xd = torch.nn.functional.dropout(x, self.dropout, self.training) if self.dropout else x
            y = y + self.scaling * ((xd @ A.T) @ B.T)
        return y

    def _rms(self, x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.cfg.norm_eps) * w

    def _rope(self, x):
        Bn, T, _ = x.shape
        hd = self.cfg.head_dim
        x = x.view(Bn, T, -1, hd)
        cos = self.cos[:T].view(1, T, 1, hd // 2)
        sin = self.sin[:T].view(1, T, 1, hd // 2)
        a, b = x[..., :hd // 2], x[..., hd // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)   # (B,T,H,hd)

    def forward(self, tokens):
        """tokens: LongTensor (B, T), positions 0..T-1 -> logits (B, T, vocab)."""
        c = self.cfg
        if tokens.dim() == 1:
            tokens = tokens.unsqueeze(0)
        Bn, T = tokens.shape
        if T > c.max_seq_len:
            raise ValueError(f"sequence of {T} exceeds max_seq_len {c.max_seq_len}")
        x = self.w["tok_embeddings"][tokens]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        fs = first_shared(c)
        kv = None
        rep = c.n_heads // c.n_kv_heads
        for i in range(c.n_layers):
            h = self._rms(x, self.w[f"layers.{i}.attn_norm"])
            q = self._rope(self._lin(h, i, "wq", "q_proj", "bq"))
            if i < fs:
                k = self._rope(self._lin(h, i, "wk", "k_proj", "bk"))
                v = self._lin(h, i, "wv", "v_proj", "bv").view(Bn, T, c.n_kv_heads, c.head_dim)
                kv = (k, v)
            k, v = kv
            # GQA without repeat_interleave: kv head j serves query heads j*rep..j*rep+rep-1.
            Q = (q * (1.0 / math.sqrt(c.head_dim))).transpose(1, 2).reshape(Bn, c.n_kv_heads, rep * T, c.head_dim)
            K = k.transpose(1, 2)                                   # (B,Hkv,T,hd)
            V = v.transpose(1, 2)
            s = (Q @ K.transpose(-1, -2)).view(Bn, c.n_kv_heads, rep, T, T)
            s = s.masked_fill(mask, float("-inf"))
            p = torch.softmax(s, dim=-1).view(Bn, c.n_kv_heads, rep * T, T)
            o = (p @ V).view(Bn, c.n_heads, T, c.head_dim).transpose(1, 2).reshape(Bn, T, -1)
            x = x + self._lin(o, i, "wo", "o_proj")
            h = self._rms(x, self.w[f"layers.{i}.ffn_norm"])
            g = self._lin(h, i, "w1", "gate_proj")
            x = x + self._lin(torch.nn.functional.silu(g) * self._lin(h, i, "w3", "up_proj"),
                              i, "w2", "down_proj")
        return self._rms(x, self.w["norm"]) @ self.w["output"].T
