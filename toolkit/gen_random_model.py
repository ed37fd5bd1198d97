#!/usr/bin/python3
"""Writes a Hugging Face Llama/Qwen2 dir with RANDOM weights in real model shapes.

For speed benchmarks (stories15M/110M, qwen2.5-0.5b, llama-3.2-1b shapes) and
for seeded test fixtures (tiny-qwen2, tiny-untied). The weights are noise: the
text they generate means nothing. config.json carries "_mote_random_weights".

Linear and embedding weights ~ N(0, std^2); norm weights ~ 1 + N(0, std^2)
(as trained models keep norm gains near 1); q/k/v biases ~ N(0, std^2).
std is 0.02 for the real shapes; the tiny fixtures use a larger std so their
logits have clear argmax margins (greedy tokens then do not hinge on rounding).

Tensors are generated and written in chunks, so a 5 GB model needs ~100 MB RAM.

  /usr/bin/python3 toolkit/gen_random_model.py llama-3.2-1b -o out/llama-1b [--dtype bf16] [--seed 1]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mote_ref import safetensors  # noqa: E402

# name: (arch, dim, hidden, layers, heads, kv_heads, head_dim, vocab, max_pos,
#        tied, rope_theta, rms_eps, std)
PRESETS = {
    "stories15M": ("llama", 288, 768, 6, 6, 6, 48, 32000, 1024, True, 10000.0, 1e-5, 0.02),
    "stories110M": ("llama", 768, 2048, 12, 12, 12, 64, 32000, 1024, True, 10000.0, 1e-5, 0.02),
    "qwen2.5-0.5b": ("qwen2", 896, 4864, 24, 14, 2, 64, 151936, 32768, True, 1e6, 1e-6, 0.02),
    "llama-3.2-1b": ("llama", 2048, 8192, 16, 32, 8, 64, 128256, 131072, True, 500000.0, 1e-5, 0.02),
    "tiny-qwen2": ("qwen2", 64, 176, 2, 4, 2, 16, 512, 512, True, 1e6, 1e-6, 0.15),
    "tiny-untied": ("llama", 96, 256, 3, 6, 2, 16, 512, 512, False, 10000.0, 1e-5, 0.15),
}

CHUNK = 1 << 22  # elements generated per step (16 MB of f32)


def tensor_specs(p):
    arch, dim, hidden, nl, nh, nkv, hd, vocab, _, tied, _, _, _ = p
    specs = [("model.embed_tokens.weight", (vocab, dim), "w")]
    for i in range(nl):
        L = f"model.layers.{i}."
        specs += [(L + "input_layernorm.weight", (dim,), "norm"),
                  (L + "self_attn.q_proj.weight", (nh * hd, dim), "w"),
                  (L + "self_attn.k_proj.weight", (nkv * hd, dim), "w"),
                  (L + "self_attn.v_proj.weight", (nkv * hd, dim), "w")]
        if arch == "qwen2":
            specs += [(L + "self_attn.q_proj.bias", (nh * hd,), "w"),
                      (L + "self_attn.k_proj.bias", (nkv * hd,), "w"),
                      (L + "self_attn.v_proj.bias", (nkv * hd,), "w")]
        specs += [(L + "self_attn.o_proj.weight", (dim, nh * hd), "w"),
                  (L + "post_attention_layernorm.weight", (dim,), "norm"),
                  (L + "mlp.gate_proj.weight", (hidden, dim), "w"),
                  (L + "mlp.up_proj.weight", (hidden, dim), "w"),
                  (L + "mlp.down_proj.weight", (dim, hidden), "w")]
    specs.append(("model.norm.weight", (dim,), "norm"))
    if not tied:
        specs.append(("lm_head.weight", (vocab, dim), "w"))
    return specs


def config_json(name, p, dtype):
    arch, dim, hidden, nl, nh, nkv, hd, vocab, max_pos, tied, theta, eps, std = p
    cfg = {
        "architectures": ["Qwen2ForCausalLM" if arch == "qwen2" else "LlamaForCausalLM"],
        "model_type": arch, "hidden_size": dim, "intermediate_size": hidden,
        "num_hidden_layers": nl, "num_attention_heads": nh, "num_key_value_heads": nkv,
        "head_dim": hd, "vocab_size": vocab, "max_position_embeddings": max_pos,
        "rms_norm_eps": eps, "rope_theta": theta, "hidden_act": "silu",
        "tie_word_embeddings": tied, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "bfloat16" if dtype == "bf16" else "float32",
        "_mote_random_weights": True, "_mote_preset": name, "_mote_init_std": std,
    }
    if arch == "llama":
        cfg["attention_bias"] = False
        cfg["mlp_bias"] = False
    else:
        cfg["use_sliding_window"] = False
    return cfg


def default_tokenizer(models, vocab):
    sub = "stories260K/tok512.model" if vocab == 512 else "llama2-tokenizer/tokenizer.model"
    return os.path.join(models, sub)


def write_weights(path, specs, std, dtype, seed):
    st = "BF16" if dtype == "bf16" else "F32"
    w = safetensors.StreamWriter(path, [(n, st, s) for n, s, _ in specs],
                                 metadata={"format": "pt", "mote_random_weights": "true"})
    rng = np.random.Generator(np.random.PCG64(seed))
    for name, shape, kind in specs:
        left = int(np.prod(shape))
        while left:
            n = min(left, CHUNK)
            x = rng.standard_normal(n, dtype=np.float32) * np.float32(std)
            if kind == "norm":
                x += np.float32(1.0)
            w.write(name, safetensors.f32_to_bf16(x) if dtype == "bf16" else x)
            left -= n
    w.close()


def generate(name, out, dtype="f32", seed=0, tokenizer=None, models=None):
    p = PRESETS[name]
    os.makedirs(out, exist_ok=True)
    models = models or os.environ.get("MOTE_MODELS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "models")
    tok = tokenizer or default_tokenizer(models, p[7])
    if not os.path.exists(tok):
        raise FileNotFoundError(f"tokenizer not found: {tok} (set MOTE_MODELS or --tokenizer)")
    write_weights(os.path.join(out, "model.safetensors"), tensor_specs(p), p[12], dtype, seed)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(name, p, dtype), f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "do_sample": False}, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "add_bos_token": True,
                   "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "legacy": True}, f, indent=2)
    shutil.copyfile(tok, os.path.join(out, "tokenizer.model"))
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write(f"{name}-shaped model with RANDOM weights (seed {seed}, std {p[12]}, {dtype}),\n"
                "for speed benchmarks and tests only. Its text is meaningless.\n"
                f"Tokenizer copied from {tok}.\n"
                "Made by toolkit/gen_random_model.py.\n")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("preset", choices=sorted(PRESETS))
    ap.add_argument("-o", "--out", required=True, help="output directory")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", help="tokenizer.model to copy (default from $MOTE_MODELS)")
    a = ap.parse_args()
    generate(a.preset, a.out, a.dtype, a.seed, a.tokenizer)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
