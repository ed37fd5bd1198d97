"""Text -> token stream, training batches, strided-window perplexity."""
import math
import os

import numpy as np
import torch

BOS = 1
EOS_MARK = "<|endoftext|>"


def find_tokenizer(model_path):
    """tokenizer.model of an HF dir, or the tok*.model beside a llama2.c checkpoint."""
    d = model_path if os.path.isdir(model_path) else os.path.dirname(os.path.abspath(model_path))
    cands = ["tokenizer.model"] + sorted(f for f in os.listdir(d)
                                         if f.startswith("tok") and f.endswith(".model"))
    for c in cands:
        p = os.path.join(d, c)
        if os.path.isfile(p):
            return p
    raise ValueError(f"{model_path}: no SentencePiece tokenizer .model found (give --tokenizer)")


def read_text(path, text_slice=None):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text_slice:
        a, _, b = text_slice.partition(":")
        text = text[int(a) if a else None:int(b) if b else None]
    return text


def documents(text):
    """Stories split on '<|endoftext|>' lines if present, else on blank lines."""
    if EOS_MARK in text:
        parts = text.split(EOS_MARK)
    else:
        parts = text.split("\n\n")
    return [p.strip() for p in parts if p.strip()]


def tokenize(text, tokenizer_path, vocab_size=None):
    """One stream: for each document, BOS followed by its SentencePiece ids."""
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=tokenizer_path)
    ids = []
    for doc in documents(text):
        ids.append(BOS)
        ids.extend(sp.encode(doc))
    ids = np.asarray(ids, dtype=np.int64)
    if vocab_size is not None and ids.size and ids.max() >= vocab_size:
        raise ValueError(f"tokenizer id {ids.max()} >= model vocab {vocab_size}")
    return ids


def batches(ids, seq, batch, gen):
    """Endless random windows of seq+1 tokens -> (inputs (B,seq), targets (B,seq))."""
    n = len(ids) - seq - 1
    if n <= 0:
        raise ValueError(f"training text has {len(ids)} tokens; need more than seq+1={seq + 1}")
    t = torch.from_numpy(ids)
    while True:
        starts = torch.randint(0, n + 1, (batch,), generator=gen)
        w = torch.stack([t[s:s + seq + 1] for s in starts.tolist()])
        yield w[:, :-1], w[:, 1:]


def perplexity(model, ids, window, stride):
    """Hugging Face-style strided perplexity over one token stream.

    Windows [b, b+window) for b = 0, stride, 2*stride, ...; each window is run
    from position 0 (no state carried between windows) and scores only the
    tokens not scored by an earlier window, so every token after the first is
    predicted exactly once, with >= window - stride tokens of context except in
    the first window. Returns (ppl, mean nll, n_scored). Maths in model.dtype.
    """
    if stride <= 0 or stride > window:
        raise ValueError("need 0 < stride <= window")
    N = len(ids)
    t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    nll, count, prev_end = 0.0, 0, 1
    model.eval()
    with torch.no_grad():
        for b in range(0, N, stride):
            e = min(b + window, N)
            if e - b < 2:
                break
            logits = model(t[b:e].unsqueeze(0))[0]          # (T, V)
            lp = torch.log_softmax(logits.double(), dim=-1)
            tgt = t[b + 1:e]
            tok_nll = -lp[:-1].gather(1, tgt.unsqueeze(1)).squeeze(1)   # predicts b+1..e-1
            first = max(prev_end, b + 1) - (b + 1)
            nll += float(tok_nll[first:].sum())
            count += int(tok_nll.shape[0] - first)
            prev_end = e
            if e == N:
                break
    mean = nll / max(count, 1)
    return math.exp(mean), mean, count
