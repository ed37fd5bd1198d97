#!/usr/bin/python3
"""e2e_text_stories260K: the user-facing path. mote-run -p tokenizes with the
bundle's tokenizer (ids equal python-sentencepiece's, BOS first), echoes the
prompt and prints the greedy continuation as text; the text starts with the
sentence PROVENANCE.md records and equals the reference's decoded tokens.
"""
import os
import sys

import e2e_common as E

PROMPT = "Once upon a time"
FACT = "Once upon a time, there was a little girl named Lily."


def main():
    E.need_torch()
    import sentencepiece
    from mote_ref import Reference
    work = E.work_dir("text-stories260K")
    src = E.model_path("stories260K", work)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(src, "tok512.model"))
    bundle = E.compile_model(src, os.path.join(work, "stories260K.mote"))
    mr = E.tool("mote-run")

    ids = [1] + sp.encode(PROMPT)
    out = E.run([mr, bundle, "-p", PROMPT, "--tokenize"]).stdout.decode().split()
    if [int(t) for t in out] != ids:
        E.fail(f"--tokenize: mote {out} != sentencepiece {ids}")
    for text in (E.STORY[:200], "h\u00e9llo w\u00f6rld"):
        got = [int(t) for t in E.run([mr, bundle, "-p", text, "--tokenize"]).stdout.decode().split()]
        if got != [1] + sp.encode(text):
            E.fail(f"--tokenize {text!r}: mote {got} != sentencepiece {[1] + sp.encode(text)}")

    ref_ids = Reference.from_path(src).generate(ids, 40)
    want = sp.decode(ids + ref_ids)
    text = E.run([mr, bundle, "-p", PROMPT, "-n", "40", "--temp", "0"]).stdout.decode()
    if not text.startswith(FACT):
        E.fail(f"stdout does not start with {FACT!r}: {text[:120]!r}")
    if text.rstrip("\n") != want:
        E.fail(f"stdout differs from the reference's text\n  mote: {text!r}\n  ref:  {want!r}")
    print(f"text: {text.strip()[:90]}... (matches reference, {len(ref_ids)} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
