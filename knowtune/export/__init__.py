"""Export a run as a standalone model: merged Hugging Face weights or a GGUF file."""

from .gguf_writer import GGUF_TYPES, write_gguf
from .hf import EXPORT_FILE, MergedRun, merge_run, save_hf, template_with_system

__all__ = ["EXPORT_FILE", "GGUF_TYPES", "MergedRun", "merge_run", "save_hf", "template_with_system", "write_gguf"]
