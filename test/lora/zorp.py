"""A synthetic story style for the LoRA tests: short stories about a robot named Zorp.

Seeded and self-contained, so the test writes its own training and held-out text.
"""
import random

_PLACES = ["the moon base", "a red barn", "the toy shop", "a big ship", "the old tower",
           "a sunny beach", "the metal garden", "a quiet lab"]
_THINGS = ["bolt", "gear", "spring", "wire", "lamp", "wheel", "magnet", "cog"]
_FRIENDS = ["Blip", "Kira", "Tock", "Mim", "Pax", "Nell"]
_FEEL = ["happy", "proud", "calm", "curious", "brave"]
_VERBS = ["fixed", "polished", "counted", "scanned", "stacked", "charged"]


def story(rng):
    place, thing, friend = rng.choice(_PLACES), rng.choice(_THINGS), rng.choice(_FRIENDS)
    feel, verb = rng.choice(_FEEL), rng.choice(_VERBS)
    n = rng.randint(2, 9)
    s = [f"Zorp the robot lived in {place}.",
         f"Every morning Zorp said, \"Beep boop, I am Zorp, and I am {feel}.\"",
         f"One day Zorp found {n} shiny {thing}s near {place}.",
         f"Zorp {verb} the {thing}s one by one. Beep, beep, beep.",
         f"Then {friend} the robot rolled up and said, \"Zorp, can I help?\"",
         f"\"Beep boop, yes!\" said Zorp. Zorp and {friend} {verb} the {thing}s together.",
         f"When the work was done, Zorp felt {feel}. Zorp said, \"Beep boop, good night.\""]
    if rng.random() < 0.5:
        s.insert(4, f"A {thing} rolled away, but Zorp used its long arm to catch it.")
    return " ".join(s)


def text(seed, n_stories):
    rng = random.Random(seed)
    return "\n<|endoftext|>\n".join(story(rng) for _ in range(n_stories)) + "\n"
