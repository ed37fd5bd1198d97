"""Random (seeded) LoRA adapters in PEFT's layout, for tests and benchmarks.

    python3 -m mote_lora.random_adapter MODEL --out DIR [--rank 32] [--alpha 32]
        [--targets q,k,v,o,gate,up,down] [--layers 0,1] [--rslora] [--seed 0]
        [--b-std 0.02]

A is PEFT's Kaiming-uniform init, U(+-1/sqrt(in)); B is N(0, b_std) instead of
PEFT's zeros, so the adapter changes the logits (an untrained adapter would
not). MODEL is anything mote_ref loads; shapes follow its HF layout, so the
file fits the model (and `motec adapter`) like a trained one.
"""
import argparse
import sys

import numpy as np

from . import adapter as A
from .model import load_base, parse_targets, site_exists


def make(model, rank=32, alpha=32.0, targets="q,k,v,o,gate,up,down", layers=None,
         rslora=False, seed=0, b_std=0.02, base=None):
    """Returns an Adapter with random tensors for every existing site.
    base: an already loaded (cfg, weights, source_cfg) to skip loading MODEL."""
    cfg, w, _ = base if base is not None else load_base(model)
    mods = parse_targets(targets)
    lay = list(range(cfg.n_layers)) if layers is None else list(layers)
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in lay:
        for mod in mods:
            if not site_exists(cfg, w, i, mod):
                continue
            W = w[f"layers.{i}.{A.MODULE_TO_KIND[mod]}"]
            n_out, n_in = W.shape
            bound = 1.0 / np.sqrt(n_in)
            a = rng.uniform(-bound, bound, (rank, n_in)).astype(np.float32)
            b = rng.normal(0.0, b_std, (n_out, rank)).astype(np.float32)
            tensors[(i, mod)] = (a, b)
    return A.Adapter(r=rank, lora_alpha=float(alpha), use_rslora=rslora, target_modules=mods,
                     layers_to_transform=None if layers is None else lay, tensors=tensors,
                     base_model_name_or_path=str(model),
                     extra={"qk_row_layout": "hf-rotate-half", "random_seed": seed,
                            "b_std": b_std})


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mote_lora.random_adapter", description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--targets", default="q,k,v,o,gate,up,down")
    ap.add_argument("--layers", default="")
    ap.add_argument("--rslora", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--b-std", type=float, default=0.02)
    a = ap.parse_args(argv)
    layers = [int(x) for x in a.layers.split(",")] if a.layers else None
    try:
        ad = make(a.model, a.rank, a.alpha, a.targets, layers, a.rslora, a.seed, a.b_std)
    except (ValueError, OSError) as e:
        print(f"mote_lora.random_adapter: error: {e}", file=sys.stderr)
        return 1
    A.save(ad, a.out)
    print(f"wrote {a.out}: {len(ad.tensors)} sites, rank {a.rank}, scale {ad.scaling:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
