"""PEFT adapter directories: adapter_config.json + adapter_model.safetensors.

Tensor names are PEFT's for LlamaForCausalLM / Qwen2ForCausalLM (the adapter
name "default" stripped, as save_pretrained does):
    base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_A.weight   (r, in)
    base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_B.weight   (out, r)
    base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight
q_proj/k_proj rows are in HF rotate-half order (see model.py).
"""
import dataclasses
import json
import math
import os
import re

import numpy as np

from mote_ref import safetensors

from .model import ALL_MODULES, MODULE_PARENT, MODULE_TO_KIND, hf_rows_to_interleaved

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\."
                  r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.lora_(A|B)\.weight$")


def tensor_name(layer, module, ab):
    return f"base_model.model.model.layers.{layer}.{MODULE_PARENT[module]}.{module}.lora_{ab}.weight"


@dataclasses.dataclass
class Adapter:
    r: int
    lora_alpha: float
    use_rslora: bool
    target_modules: list
    layers_to_transform: list        # None = every layer
    tensors: dict                    # {(layer, module): (A (r,in), B (out,r))} numpy
    base_model_name_or_path: str = ""
    lora_dropout: float = 0.0
    extra: dict = dataclasses.field(default_factory=dict)   # mote's own metadata

    @property
    def scaling(self):
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)


def config_dict(ad):
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": ad.base_model_name_or_path,
        "revision": None,
        "r": ad.r,
        "lora_alpha": int(ad.lora_alpha) if float(ad.lora_alpha).is_integer() else ad.lora_alpha,
        "lora_dropout": ad.lora_dropout,
        "use_rslora": ad.use_rslora,
        "target_modules": list(ad.target_modules),
        "layers_to_transform": None if ad.layers_to_transform is None else list(ad.layers_to_transform),
        "layers_pattern": None,
        "bias": "none",
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": False,
        "inference_mode": True,
        "mote": ad.extra,
    }


def save(ad, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tensors = {}
    for (layer, mod) in sorted(ad.tensors, key=lambda s: (s[0], ALL_MODULES.index(s[1]))):
        A, B = ad.tensors[(layer, mod)]
        tensors[tensor_name(layer, mod, "A")] = np.ascontiguousarray(A, dtype=np.float32)
        tensors[tensor_name(layer, mod, "B")] = np.ascontiguousarray(B, dtype=np.float32)
    safetensors.save(os.path.join(out_dir, WEIGHTS_NAME), tensors, metadata={"format": "pt"})
    with open(os.path.join(out_dir, CONFIG_NAME), "w") as f:
        json.dump(config_dict(ad), f, indent=2, sort_keys=True)
        f.write("\n")


def load(ad_dir):
    """Reads a PEFT LoRA dir (ours or PEFT's own); one-line ValueError on bad input."""
    cpath = os.path.join(ad_dir, CONFIG_NAME)
    try:
        with open(cpath) as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{cpath}: {e}") from None
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{cpath}: peft_type {cfg.get('peft_type')} is not LORA")
    for key, want in (("bias", "none"), ("fan_in_fan_out", False), ("use_dora", False)):
        if cfg.get(key, want) != want:
            raise ValueError(f"{cpath}: {key}={cfg[key]!r} not supported")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ValueError(f"{cpath}: rank_pattern/alpha_pattern not supported")
    r = int(cfg.get("r", 8))
    tm = cfg.get("target_modules")
    if isinstance(tm, str):
        tm = [m for m in ALL_MODULES if re.search(tm, m)]
    tm = [m for m in ALL_MODULES if m in set(tm or [])]
    st = safetensors.load(os.path.join(ad_dir, WEIGHTS_NAME))
    raw = {}
    for name, arr in st.items():
        m = _KEY.match(name)
        if not m:
            raise ValueError(f"{ad_dir}: unexpected tensor {name}")
        layer, mod, ab = int(m.group(1)), m.group(3), m.group(4)
        if MODULE_PARENT[mod] != m.group(2):
            raise ValueError(f"{ad_dir}: {name}: {mod} is not under {m.group(2)}")
        raw.setdefault((layer, mod), {})[ab] = np.asarray(arr, dtype=np.float32)
    tensors = {}
    for site, d in sorted(raw.items()):
        if set(d) != {"A", "B"}:
            raise ValueError(f"{ad_dir}: layer {site[0]} {site[1]}: lora_A/lora_B missing one")
        A, B = d["A"], d["B"]
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != r or B.shape[1] != r:
            raise ValueError(f"{ad_dir}: layer {site[0]} {site[1]}: shapes A{A.shape} B{B.shape} "
                             f"disagree with r={r}")
        if site[1] not in tm:
            raise ValueError(f"{ad_dir}: {site[1]} not in target_modules {tm}")
        tensors[site] = (A, B)
    lt = cfg.get("layers_to_transform")
    if isinstance(lt, int):
        lt = [lt]
    return Adapter(r=r, lora_alpha=float(cfg.get("lora_alpha", 8)),
                   use_rslora=bool(cfg.get("use_rslora", False)), target_modules=tm,
                   layers_to_transform=lt, tensors=tensors,
                   base_model_name_or_path=cfg.get("base_model_name_or_path") or "",
                   lora_dropout=float(cfg.get("lora_dropout", 0.0)), extra=cfg.get("mote") or {})


def check_fits(ad, cfg, weights):
    """Every site must exist in the (HF-layout) base with matching shapes."""
    for (layer, mod), (A, B) in ad.tensors.items():
        W = weights.get(f"layers.{layer}.{MODULE_TO_KIND[mod]}")
        if W is None:
            raise ValueError(f"adapter targets layer {layer} {mod}, which the base does not have")
        if A.shape[1] != W.shape[1] or B.shape[0] != W.shape[0]:
            raise ValueError(f"layer {layer} {mod}: adapter A{A.shape} B{B.shape} does not fit "
                             f"base weight {W.shape}")
        if ad.layers_to_transform is not None and layer not in ad.layers_to_transform:
            raise ValueError(f"layer {layer} not in layers_to_transform")


def merged_weights(ad, cfg, weights, source_cfg=None, dtype=np.float64):
    """W + s * B @ A for every site (float64 maths).

    cfg/weights are HF layout. With source_cfg of a llama2.c base (interleaved
    RoPE), the returned q/k weights are permuted back into the llama2.c row
    order, so the result pairs with source_cfg; otherwise it pairs with cfg.
    """
    check_fits(ad, cfg, weights)
    out = {k: np.array(v, dtype=dtype) for k, v in weights.items()}
    s = ad.scaling
    for (layer, mod), (A, B) in ad.tensors.items():
        key = f"layers.{layer}.{MODULE_TO_KIND[mod]}"
        out[key] = (np.asarray(weights[key], dtype=np.float64)
                    + s * (np.asarray(B, np.float64) @ np.asarray(A, np.float64))).astype(dtype)
    if source_cfg is not None and source_cfg.rope_style == "interleaved":
        for i in range(cfg.n_layers):
            for kind, nh in (("wq", cfg.n_heads), ("wk", cfg.n_kv_heads),
                             ("bq", cfg.n_heads), ("bk", cfg.n_kv_heads)):
                k = f"layers.{i}.{kind}"
                if k in out:
                    out[k] = hf_rows_to_interleaved(out[k], nh, cfg.head_dim)
    return out


def source_layout_tensors(ad, source_cfg):
    """The adapter's (A, B) pairs with q/k B rows in the source checkpoint's row
    order (identity for HF bases; HF -> interleaved for llama2.c bases)."""
    if source_cfg.rope_style != "interleaved":
        return dict(ad.tensors)
    out = {}
    for (layer, mod), (A, B) in ad.tensors.items():
        if mod in ("q_proj", "k_proj"):
            nh = source_cfg.n_heads if mod == "q_proj" else source_cfg.n_kv_heads
            B = hf_rows_to_interleaved(B, nh, source_cfg.head_dim)
        out[(layer, mod)] = (A, B)
    return out
