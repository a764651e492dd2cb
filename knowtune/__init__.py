"""knowtune: teach a small language model a knowledge base by fine-tuning, and prove it learned."""

import logging as _logging
import os as _os

__version__ = "0.1.0"

# knowtune reads models from its presets and local folders only: nothing is fetched from a model
# hub. bitsandbytes, imported with peft, otherwise tries to fetch an optional CPU kernel from the
# Hugging Face Hub on every start (on CPUs with AVX512-BF16) and warns when it cannot; its own
# kernel is used either way, so the attempt and its two warnings are switched off here.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _name in ("bitsandbytes.backends.cpu.ops", "kernels._internals.hf_hub"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)
