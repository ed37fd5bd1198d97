"""Float64 Llama reference forward (the oracle Mote's logits are checked against).

Exactly: RMSNorm(x) = x * rsqrt(mean(x^2) + eps) * w; RoPE (interleaved pairs for
llama2.c checkpoints, rotate-half for HF); GQA causal attention with scale
1/sqrt(head_dim); SwiGLU MLP w2(silu(w1 x) * w3 x); tied or untied classifier.

KV sharing: layers i >= first_shared have no K/V projections of their own and
attend (with their own queries) over the cache of layer first_shared - 1.
first_shared is n_layers - cfg.num_kv_shared_layers (a natively shared
checkpoint) unless kv_share_boundary overrides it (a model rewritten after
training, as motec --kv-share does).

8-bit KV cache (motec --kv-dtype q8): with kv_dtype="q8" every K/V row is
fake-quantized as it enters the cache, exactly as the runtime stores it
(kv_fake_quant_q8); attention then reads the dequantized values.
"""
import math

import numpy as np
import torch

from . import loaders

BOS, EOS = 1, 2


def kv_fake_quant_q8(x, head_dim):
    """What Mote's 8-bit KV cache holds for rows x (T, Hkv*hd): per row and KV
    head s = float32(max|x| / 127), code = round half to even of x / s clamped
    to [-127, 127] (code 0 when s = 0), value s * code (float64)."""
    T = x.shape[0]
    g = x.reshape(T, -1, head_dim)
    s = (g.abs().amax(-1, keepdim=True) / 127.0).to(torch.float32).to(torch.float64)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    c = torch.where(s > 0, torch.round(g / safe), torch.zeros_like(g)).clamp(-127, 127)
    return (s * c).reshape(T, -1)


def rope_inv_freq(c):
    """RoPE inverse frequencies (head_dim/2, float64), with Hugging Face's
    rope_scaling: "linear" divides them by factor; "llama3" keeps those whose
    wavelength is below original_max_position_embeddings / high_freq_factor,
    divides those above original / low_freq_factor by factor, and between the
    two mixes inv/factor and inv with weight s = (original / wavelength - low)
    / (high - low) on inv."""
    half = c.head_dim // 2
    inv = 1.0 / (float(c.rope_theta) ** (torch.arange(0, half, dtype=torch.float64) * 2 / c.head_dim))
    rs = c.rope_scaling or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv
    factor = float(rs["factor"])
    if kind == "linear":
        return inv / factor
    if kind != "llama3":
        raise ValueError(f"rope_scaling {kind!r} not supported")
    lo, hi = float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    orig = float(rs["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    out = inv.clone()
    for i in range(half):
        if wavelen[i] < orig / hi:
            continue
        if wavelen[i] > orig / lo:
            out[i] = inv[i] / factor
        else:
            s = (orig / wavelen[i] - lo) / (hi - lo)
            out[i] = (1 - s) * inv[i] / factor + s * inv[i]
    return out


class Reference:
    def __init__(self, cfg, weights, skip_ffn_layers=(), kv_share_boundary=None,
                 kv_dtype="f32"):
        self.cfg = cfg
        if kv_dtype not in ("f32", "q8"):
            raise ValueError(f"kv_dtype {kv_dtype!r}: f32 or q8")
        self.kv_dtype = kv_dtype
        self.skip_ffn = set(int(i) for i in skip_ffn_layers)
        self.first_shared = (cfg.n_layers - cfg.num_kv_shared_layers
                             if kv_share_boundary is None else int(kv_share_boundary))
        if not 1 <= self.first_shared <= cfg.n_layers:
            raise ValueError(f"first shared layer {self.first_shared} out of range")
        self.w = {k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in weights.items()}
        if "output" not in self.w:
            self.w["output"] = self.w["tok_embeddings"]
        c = cfg
        half = c.head_dim // 2
        inv = rope_inv_freq(c)
        pos = torch.arange(c.max_seq_len, dtype=torch.float64)
        ang = torch.outer(pos, inv)                      # (S, hd/2)
        self.cos, self.sin = torch.cos(ang), torch.sin(ang)
        self.reset()

    @classmethod
    def from_path(cls, path, **kw):
        cfg, w = loaders.load(path)
        return cls(cfg, w, **kw)

    def reset(self):
        c = self.cfg
        kd = c.n_kv_heads * c.head_dim
        self.k = [torch.zeros(c.max_seq_len, kd, dtype=torch.float64) for _ in range(c.n_layers)]
        self.v = [torch.zeros(c.max_seq_len, kd, dtype=torch.float64) for _ in range(c.n_layers)]
        self.pos = 0

    def _rms(self, x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.cfg.norm_eps) * w

    def _rope(self, x, p0):
        """x: (T, H*hd) -> rotated, positions p0..p0+T-1."""
        c = self.cfg
        T = x.shape[0]
        x = x.view(T, -1, c.head_dim)
        cos = self.cos[p0:p0 + T].unsqueeze(1)   # (T,1,hd/2)
        sin = self.sin[p0:p0 + T].unsqueeze(1)
        if c.rope_style == "interleaved":
            a, b = x[..., 0::2], x[..., 1::2]
            out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
        else:
            h = c.head_dim // 2
            a, b = x[..., :h], x[..., h:]
            out = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
        return out.reshape(T, -1)

    def _lin(self, x, name, bias=None):
        y = x @ self.w[name].T
        if bias is not None and bias in self.w:
            y = y + self.w[bias]
        return y

    def _attention(self, i, h, p0):
        c = self.cfg
        T = h.shape[0]
        L = f"layers.{i}."
        q = self._rope(self._lin(h, L + "wq", L + "bq"), p0)
        if i < self.first_shared:
            k = self._rope(self._lin(h, L + "wk", L + "bk"), p0)
            v = self._lin(h, L + "wv", L + "bv")
            if self.kv_dtype == "q8":
                k, v = kv_fake_quant_q8(k, c.head_dim), kv_fake_quant_q8(v, c.head_dim)
            self.k[i][p0:p0 + T] = k
            self.v[i][p0:p0 + T] = v
        else:
            i = self.first_shared - 1   # read (only) the source layer's cache
        n = p0 + T
        K = self.k[i][:n].view(n, c.n_kv_heads, c.head_dim).transpose(0, 1)   # (Hkv,n,hd)
        V = self.v[i][:n].view(n, c.n_kv_heads, c.head_dim).transpose(0, 1)
        rep = c.n_heads // c.n_kv_heads
        K = K.repeat_interleave(rep, dim=0)
        V = V.repeat_interleave(rep, dim=0)
        Q = q.view(T, c.n_heads, c.head_dim).transpose(0, 1)                  # (H,T,hd)
        s = Q @ K.transpose(1, 2) / math.sqrt(c.head_dim)                     # (H,T,n)
        qpos = torch.arange(p0, n).unsqueeze(1)
        kpos = torch.arange(n).unsqueeze(0)
        s = s.masked_fill(kpos > qpos, float("-inf"))
        o = torch.softmax(s, dim=-1) @ V                                      # (H,T,hd)
        return self._lin(o.transpose(0, 1).reshape(T, -1), L + "wo")

    def forward(self, tokens):
        """Feeds tokens at the current position (KV cache kept); returns
        float64 logits (T, vocab) for every fed position."""
        c = self.cfg
        tokens = list(tokens)
        p0 = self.pos
        if p0 + len(tokens) > c.max_seq_len:
            raise ValueError(f"context overflow: {p0 + len(tokens)} > {c.max_seq_len}")
        x = self.w["tok_embeddings"][torch.tensor(tokens, dtype=torch.long)]
        for i in range(c.n_layers):
            L = f"layers.{i}."
            x = x + self._attention(i, self._rms(x, self.w[L + "attn_norm"]), p0)
            if i in self.skip_ffn:
                continue
            h = self._rms(x, self.w[L + "ffn_norm"])
            g = self._lin(h, L + "w1")
            x = x + self._lin(torch.nn.functional.silu(g) * self._lin(h, L + "w3"), L + "w2")
        self.pos = p0 + len(tokens)
        return self._rms(x, self.w["norm"]) @ self.w["output"].T

    def logits(self, tokens):
        """Logits (T, vocab) float64 numpy for all positions of a fresh sequence."""
        self.reset()
        with torch.no_grad():
            return self.forward(tokens).numpy()

    def generate(self, prompt, n, stop=(BOS, EOS)):
        """Greedy: up to n new tokens after prompt; stops (without emitting)
        at BOS or EOS, as llama2.c run.c stops at BOS."""
        self.reset()
        out = []
        with torch.no_grad():
            lg = self.forward(prompt)[-1]
            for _ in range(n):
                t = int(torch.argmax(lg))
                if t in stop:
                    break
                out.append(t)
                if self.pos >= self.cfg.max_seq_len:
                    break
                lg = self.forward([t])[-1]
        return out
