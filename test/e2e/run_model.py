#!/usr/bin/python3
"""e2e_<model>: compile one model with motec, run it with mote-run, compare with
the float64 reference: every position's logits (--step), prefill last-position
logits at chunk-crossing prompt lengths, and 128 greedy tokens (1 and 2 threads).

  run_model.py MODEL_NAME      (a key of e2e_common.MODEL_TABLE)
"""
import os
import sys

import e2e_common as E


def main():
    name = sys.argv[1]
    E.need_torch()
    from mote_ref import Reference
    work = E.work_dir(name)
    src = E.model_path(name, work)
    ref = Reference.from_path(src)
    bundle = E.compile_model(src, os.path.join(work, name + ".mote"))
    return check(name, bundle, ref, work)


def check(name, bundle, ref, work):
    """Every-position, prefill and greedy checks of `bundle` against `ref`."""
    S, V = ref.cfg.max_seq_len, ref.cfg.vocab_size
    # 1. Every position through the decode graph (prompt crosses 64).
    worst_step = 0.0
    for n in (24, min(80, S)):
        ids = E.story_ids(n)
        got = E.mote_logits(bundle, ids, V, step=True, work=work)
        worst_step = max(worst_step, E.compare_logits(f"{name} step n={n}", got, ref.logits(ids)))

    # 2. Prefill, last position, at lengths around the chunk size.
    worst_pre = 0.0
    for n in sorted({min(n, S) for n in (1, 7, 64, 65, 150)}):
        ids = E.story_ids(n)
        got = E.mote_logits(bundle, ids, V, step=False, work=work)
        want = ref.logits(ids)[-1:]
        worst_pre = max(worst_pre, E.compare_logits(f"{name} prefill n={n}", got, want))

    # 3. Greedy tokens from a short and a long (chunked prefill) prompt.
    ntok = 0
    for prompt in (E.story_ids(5), E.story_ids(min(70, S // 2))):
        n = min(128, S - len(prompt))
        want = ref.generate(prompt, n)
        for threads in (1, 2):
            got = E.mote_generate(bundle, prompt, n, threads=threads)
            E.compare_tokens(f"{name} greedy prompt={len(prompt)} threads={threads}", got, want)
        ntok += len(want)
    print(f"{name}: step max|d|/max|logit| {worst_step:.2e}, prefill {worst_pre:.2e} "
          f"(tol {E.REL_TOL:g}); greedy {ntok} tokens match (1 and 2 threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
