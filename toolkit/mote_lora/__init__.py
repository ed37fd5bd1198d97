"""mote_lora: LoRA adapter trainer for models Mote imports (PEFT file layout).

CLI: python3 -m mote_lora {train,merge,ppl} ... (see docs/lora.md). Needs
toolkit/ on sys.path (for mote_ref); the package adds it when missing.
"""
import os
import sys

_TOOLKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TOOLKIT not in sys.path:
    sys.path.insert(0, _TOOLKIT)
