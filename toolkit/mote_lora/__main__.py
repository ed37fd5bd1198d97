"""CLI: python3 -m mote_lora train|merge|ppl (run from toolkit/ or with it on PYTHONPATH)."""
import argparse
import sys

import torch


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mote_lora", description="LoRA adapters in PEFT's layout")
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="fit a LoRA adapter on a text file")
    t.add_argument("model", help="llama2.c .bin (or its dir) or a Hugging Face dir")
    t.add_argument("--data", required=True, help="UTF-8 text ('<|endoftext|>' or blank lines split documents)")
    t.add_argument("--out", required=True, help="adapter directory to write")
    t.add_argument("--rank", type=int, default=8)
    t.add_argument("--alpha", type=float, default=16.0)
    t.add_argument("--rslora", action="store_true", help="scale by alpha/sqrt(r) instead of alpha/r")
    t.add_argument("--targets", default="q,k,v,o,gate,up,down",
                   help="comma list of q,k,v,o,gate,up,down (or HF names q_proj,...), or 'all'")
    t.add_argument("--layers", default="", help="comma list of layer indices (default: all)")
    t.add_argument("--steps", type=int, default=200)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--warmup", type=int, default=10)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--dropout", type=float, default=0.0, help="lora_dropout on the adapter input")
    t.add_argument("--seq", type=int, default=128)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--text-slice", default=None, help="START:END character slice of --data")
    t.add_argument("--tokenizer", default=None, help="SentencePiece .model (default: beside MODEL)")
    t.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    t.add_argument("--log-every", type=int, default=50)

    m = sub.add_parser("merge", help="write base + adapter as merged HF weights")
    m.add_argument("model")
    m.add_argument("--adapter", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", choices=["f32", "f64"], default="f32")

    p = sub.add_parser("ppl", help="float64 perplexity, optionally with an adapter")
    p.add_argument("model")
    p.add_argument("--adapter", default=None)
    p.add_argument("--data", required=True)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--text-slice", default=None)
    p.add_argument("--max-tokens", type=int, default=0)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--threads", type=int, default=0)

    for sp in (t, m, p):
        g = sp.add_argument_group("quantized base (motec's flags; the base is fake-quantized "
                                  "with mote_ref.quant before use)")
        g.add_argument("--base-weights", default=None, help="w2|w4|w8|f32 (default f32)")
        g.add_argument("--base-group-size", type=int, default=32)
        g.add_argument("--base-f", default="maxabs", choices=["maxabs", "search"])
        g.add_argument("--base-embed-bits", type=int, default=None, help="default 4")
        g.add_argument("--base-weights-policy", default=None)

    a = ap.parse_args(argv)
    from . import train as T
    try:
        if getattr(a, "threads", 0):
            torch.set_num_threads(a.threads)
        q = T.quant_args(a.base_weights, a.base_group_size, a.base_f, a.base_embed_bits,
                         a.base_weights_policy)
        if a.cmd == "train":
            ad, losses = T.train(a.model, a.data, a.out, r=a.rank, alpha=a.alpha, targets=a.targets,
                                 layers=a.layers, steps=a.steps, lr=a.lr, seq=a.seq, batch=a.batch,
                                 seed=a.seed, rslora=a.rslora, dropout=a.dropout,
                                 text_slice=a.text_slice, tokenizer=a.tokenizer, warmup=a.warmup,
                                 weight_decay=a.weight_decay, log_every=a.log_every, quant=q)
            print(f"wrote {a.out}: r={ad.r} alpha={ad.lora_alpha:g} scaling={ad.scaling:g} "
                  f"sites={len(ad.tensors)} final loss {losses[-1]:.4f}")
        elif a.cmd == "merge":
            T.merge(a.model, a.adapter, a.out, a.dtype, quant=q)
            print(f"wrote {a.out}")
        else:
            ppl, nll, n = T.ppl(a.model, a.data, a.adapter, a.window, a.stride, a.text_slice,
                                a.tokenizer, a.max_tokens, quant=q)
            print(f"ppl {ppl:.6f}  nll {nll:.6f}  tokens {n}")
    except (ValueError, OSError, KeyError) as e:
        print(f"mote_lora: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
