"""mote_ref: float64 PyTorch reference for Mote (loaders, forward, greedy).

torch is imported only by mote_ref.model, so the safetensors and loader
modules work without it (the random-model generator needs numpy only).
"""
from .loaders import Config, load, load_hf, load_llama2c  # noqa: F401


def __getattr__(name):
    if name in ("Reference", "BOS", "EOS"):
        from . import model
        return getattr(model, name)
    raise AttributeError(name)
