#!/usr/bin/python3
"""e2e_forms_<group>: the llama2.c and Hugging Face forms of one model compile
to bundles that generate identical greedy tokens (Mote against Mote), and
those tokens equal the float64 reference's.

  run_forms.py FORM [FORM...]    (keys of e2e_common.MODEL_TABLE, same weights)
"""
import os
import sys

import e2e_common as E


def main():
    forms = sys.argv[1:]
    E.need_torch()
    from mote_ref import Reference
    work = E.work_dir("forms-" + forms[0])
    srcs = {f: E.model_path(f, work) for f in forms}  # all present before any work
    ref = Reference.from_path(srcs[forms[0]])
    prompts = [E.story_ids(5), E.story_ids(66)]
    counts = [min(128, ref.cfg.max_seq_len - len(p)) for p in prompts]
    want = [ref.generate(p, n) for p, n in zip(prompts, counts)]
    for f in forms:
        bundle = E.compile_model(srcs[f], os.path.join(work, f + ".mote"))
        for p, n, w in zip(prompts, counts, want):
            got = E.mote_generate(bundle, p, n)
            E.compare_tokens(f"{f} vs {forms[0]} reference, prompt={len(p)}", got, w)
    print(f"forms {', '.join(forms)}: identical greedy tokens "
          f"({sum(map(len, want))} per form, equal to the reference of {forms[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
