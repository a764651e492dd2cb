"""Silence library chatter that is not for our users (bitsandbytes kernel hints, HF progress bars)."""

from __future__ import annotations

import logging
import warnings


def quiet_libraries() -> None:
    warnings.filterwarnings("ignore", message=".*kernels.*")
    warnings.filterwarnings("ignore", message=".*gemm_4bit.*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("bitsandbytes", "transformers", "accelerate", "peft", "jieba"):
        logging.getLogger(name).setLevel(logging.ERROR)
