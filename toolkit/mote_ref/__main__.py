"""CLI: python3 -m mote_ref MODEL [--ids "1 2 3" | -p TEXT --tokenizer X.model] [-n N].

     python3 -m mote_ref calib-stats MODEL --data TEXT --tokens N -o STATS
     (calibration statistics for motec --calibration, mote_ref/calib.py)"""
import argparse
import sys

from .model import BOS, Reference


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "calib-stats":
        from . import calib
        return calib.main(sys.argv[2:])
    ap = argparse.ArgumentParser(prog="mote_ref")
    ap.add_argument("model")
    ap.add_argument("--ids", help="prompt token ids, space-separated (no BOS added)")
    ap.add_argument("-p", "--prompt", help="prompt text (BOS prepended)")
    ap.add_argument("--tokenizer", help="SentencePiece .model for -p and for decoding")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--skip-ffn", default="", help="comma-separated layers whose FFN is skipped")
    ap.add_argument("--kv-dtype", default="f32", choices=("f32", "q8"),
                    help="KV cache as motec --kv-dtype: q8 fake-quantizes K/V rows")
    a = ap.parse_args()
    skip = [int(s) for s in a.skip_ffn.split(",") if s]
    ref = Reference.from_path(a.model, skip_ffn_layers=skip, kv_dtype=a.kv_dtype)
    sp = None
    if a.tokenizer:
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=a.tokenizer)
    if a.ids is not None:
        prompt = [int(t) for t in a.ids.split()]
    elif a.prompt is not None and sp is not None:
        prompt = [BOS] + sp.encode(a.prompt)
    else:
        ap.error("give --ids, or -p with --tokenizer")
    out = ref.generate(prompt, a.n)
    print(" ".join(map(str, out)))
    if sp is not None:
        print(sp.decode(prompt + out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
