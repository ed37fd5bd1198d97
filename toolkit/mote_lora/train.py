"""Adapter training, merging and perplexity (the library behind the CLI)."""
import json
import math
import os
import shutil
import time

import numpy as np
import torch

from mote_ref import safetensors

from . import adapter as adapter_mod
from . import data
from .model import LoraLlama, load_base, parse_targets, site_exists


def quant_args(weights=None, group=32, fmode="maxabs", embed=None, policy=None):
    """CLI --base-* flags (motec's --weights/--group-size/--f/--embed-bits/
    --weights-policy) -> fake_quantize_weights kwargs, or None for f32."""
    if not weights or weights == "f32":
        return None
    if weights not in ("w2", "w4", "w8"):
        raise ValueError(f"--base-weights {weights}: want w2, w4, w8 or f32")
    overrides = None
    if policy:
        with open(policy) as f:
            overrides = json.load(f)
    return {"weights": weights, "group": int(group), "fmode": fmode,
            "embed": 4 if embed is None else int(embed), "overrides": overrides}


def parse_layers(spec, cfg):
    if spec in (None, "", "all"):
        return None
    out = sorted({int(s) for s in spec.split(",") if s.strip()})
    for i in out:
        if not 0 <= i < cfg.n_layers:
            raise ValueError(f"layer {i} out of range (model has {cfg.n_layers})")
    return out


def build_sites(cfg, weights, modules, layers):
    """Every (layer, module) requested; a module missing in a layer (K/V of a
    KV-shared layer) is an error only if no layer has it."""
    sites = []
    for i in (range(cfg.n_layers) if layers is None else layers):
        for m in modules:
            if site_exists(cfg, weights, i, m):
                sites.append((i, m))
    for m in modules:
        if not any(s[1] == m for s in sites):
            raise ValueError(f"target {m} exists in none of the chosen layers")
    return sites


def train(model_path, data_path, out_dir, r=8, alpha=16.0, targets="q,k,v,o,gate,up,down",
          layers=None, steps=200, lr=2e-3, seq=128, batch=8, seed=0, rslora=False,
          dropout=0.0, text_slice=None, tokenizer=None, warmup=10, weight_decay=0.0,
          log_every=50, threads=None, log=print, quant=None):
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    cfg, weights, src_cfg = load_base(model_path, quant)
    modules = parse_targets(targets)
    layer_list = parse_layers(layers, cfg)
    sites = build_sites(cfg, weights, modules, layer_list)
    tok = tokenizer or data.find_tokenizer(model_path)
    ids = data.tokenize(data.read_text(data_path, text_slice), tok, cfg.vocab_size)
    seq = min(seq, cfg.max_seq_len)
    model = LoraLlama(cfg, weights, sites, r=r, alpha=alpha, rslora=rslora, dropout=dropout,
                      dtype=torch.float32, seed=seed)
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)

    def lr_at(step):   # linear warmup, cosine decay to 10%
        if step < warmup:
            return lr * (step + 1) / warmup
        p = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    gen = torch.Generator().manual_seed(seed + 1)
    it = data.batches(ids, seq, batch, gen)
    model.train()
    t0 = time.time()
    losses = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = next(it)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if log and log_every and (step % log_every == 0 or step == steps - 1):
            log(f"step {step:5d}  loss {losses[-1]:.4f}  lr {lr_at(step):.2e}  {time.time() - t0:.1f}s")
    ad = adapter_mod.Adapter(
        r=r, lora_alpha=float(alpha), use_rslora=bool(rslora), target_modules=modules,
        layers_to_transform=layer_list, tensors=model.lora_tensors(),
        base_model_name_or_path=os.path.abspath(model_path), lora_dropout=float(dropout),
        extra={"trainer": "mote_lora", "qk_row_layout": "hf-rotate-half",
               "base_source_format": src_cfg.source_format, "steps": steps, "lr": lr,
               "seq": seq, "batch": batch, "seed": seed, "data": os.path.abspath(data_path),
               "text_slice": text_slice or "", "train_tokens": int(len(ids)),
               "final_loss": losses[-1] if losses else None, "base_quant": quant or None})
    adapter_mod.save(ad, out_dir)
    return ad, losses


def model_with_adapter(model_path, adapter_dir=None, dtype=torch.float64, quant=None):
    """(LoraLlama in dtype with the adapter's tensors, cfg, weights, src_cfg, adapter)."""
    cfg, weights, src_cfg = load_base(model_path, quant)
    ad = None
    if adapter_dir:
        ad = adapter_mod.load(adapter_dir)
        adapter_mod.check_fits(ad, cfg, weights)
        m = LoraLlama(cfg, weights, sorted(ad.tensors), r=ad.r, alpha=ad.lora_alpha,
                      rslora=ad.use_rslora, dtype=dtype)
        m.set_lora(ad.tensors)
    else:
        m = LoraLlama(cfg, weights, (), dtype=dtype)
    m.eval()
    return m, cfg, weights, src_cfg, ad


def ppl(model_path, data_path, adapter_dir=None, window=256, stride=128, text_slice=None,
        tokenizer=None, max_tokens=None, dtype=torch.float64, quant=None):
    m, cfg, _, _, _ = model_with_adapter(model_path, adapter_dir, dtype, quant)
    tok = tokenizer or data.find_tokenizer(model_path)
    ids = data.tokenize(data.read_text(data_path, text_slice), tok, cfg.vocab_size)
    if max_tokens:
        ids = ids[:int(max_tokens)]
    window = min(window, cfg.max_seq_len)
    return data.perplexity(m, ids, window, min(stride, window))


def _hf_config(cfg, model_path):
    src = os.path.join(model_path, "config.json") if os.path.isdir(model_path) else ""
    if src and os.path.exists(src):
        with open(src) as f:
            c = json.load(f)
    else:
        c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
             "hidden_size": cfg.dim, "intermediate_size": cfg.hidden_dim,
             "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
             "num_key_value_heads": cfg.n_kv_heads, "vocab_size": cfg.vocab_size,
             "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps,
             "rope_theta": cfg.rope_theta, "hidden_act": "silu",
             "tie_word_embeddings": cfg.tied, "bos_token_id": 1, "eos_token_id": 2,
             "attention_bias": False, "mlp_bias": False}
    c["torch_dtype"] = "float32"
    return c


_HF_OUT = {"wq": "self_attn.q_proj.weight", "wk": "self_attn.k_proj.weight",
           "wv": "self_attn.v_proj.weight", "wo": "self_attn.o_proj.weight",
           "bq": "self_attn.q_proj.bias", "bk": "self_attn.k_proj.bias",
           "bv": "self_attn.v_proj.bias", "w1": "mlp.gate_proj.weight",
           "w2": "mlp.down_proj.weight", "w3": "mlp.up_proj.weight",
           "attn_norm": "input_layernorm.weight", "ffn_norm": "post_attention_layernorm.weight"}


def _hf_name(canon):
    if canon == "tok_embeddings":
        return "model.embed_tokens.weight"
    if canon == "norm":
        return "model.norm.weight"
    if canon == "output":
        return "lm_head.weight"
    if canon.endswith(".quant_f"):       # QAT clipping factor, kept as loaded
        return _hf_name(canon[:-len(".quant_f")]) + ".quant_f"
    _, i, kind = canon.split(".")
    return f"model.layers.{i}.{_HF_OUT[kind]}"


def merge(model_path, adapter_dir, out_dir, dtype="f32", quant=None):
    """Writes W + s*B*A as a Hugging Face dir (HF layout, even for a llama2.c
    base: config.json, model.safetensors, tokenizer.model) that motec and
    mote_ref both import. dtype f32 (motec-compilable) or f64 (reference).
    With quant, the base is fake-quantized first (W_hat + s*B*A: the reference
    for a quantized base with an f32 adapter)."""
    cfg, weights, src_cfg = load_base(model_path, quant)
    ad = adapter_mod.load(adapter_dir)
    npd = {"f32": np.float32, "f64": np.float64}[dtype]
    merged = adapter_mod.merged_weights(ad, cfg, weights, dtype=npd)
    os.makedirs(out_dir, exist_ok=True)
    tensors = {_hf_name(k): np.ascontiguousarray(v) for k, v in sorted(merged.items())}
    safetensors.save(os.path.join(out_dir, "model.safetensors"), tensors, metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(_hf_config(cfg, model_path), f, indent=2)
        f.write("\n")
    try:
        shutil.copyfile(data.find_tokenizer(model_path), os.path.join(out_dir, "tokenizer.model"))
    except ValueError:
        pass
    with open(os.path.join(out_dir, "README.txt"), "w") as f:
        f.write(f"Merged by mote_lora: base {os.path.abspath(model_path)} + adapter "
                f"{os.path.abspath(adapter_dir)} (W + {ad.scaling:g} * B @ A, {dtype}).\n")
    return out_dir
