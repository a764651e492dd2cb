"""Lowest layer: errors, typed configs, YAML loading, output folders, run directory names, hardware
detection. Imports nothing else of knowtune, so every other package may import it."""

from .docs import describe_fields, field_docs
from .errors import KnowtuneError
from .train import (ANSWER_BATCH, DEFAULT_MODEL, HEDGE_BELOW, MULTILINGUAL_MODEL, RETRIEVE_BELOW, TrainConfig,
                    load_train_config, parse_override)

__all__ = ["KnowtuneError", "TrainConfig", "load_train_config", "parse_override", "field_docs",
           "describe_fields", "ANSWER_BATCH", "DEFAULT_MODEL", "HEDGE_BELOW", "MULTILINGUAL_MODEL",
           "RETRIEVE_BELOW"]
