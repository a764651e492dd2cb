"""Knowledge ingestion, question synthesis, dataset building, tokenization and batching."""

from .build import (HELDOUT_FILE, KNOWLEDGE_FILE, STATS_FILE, TRAIN_FILE, BuiltDataset, build_samples,
                    count_tokens, load_dataset_dir, write_dataset)
from .collate import (length_grouped_batches, pack_batch, pad_batch, padded_width, shared_prefix_length,
                      shuffled_batches)
from .facts import Fact, load_facts
from .prompt import IGNORE, ChatPrompt, encode_chat, with_system

__all__ = ["Fact", "load_facts", "BuiltDataset", "build_samples", "count_tokens", "write_dataset",
           "load_dataset_dir", "ChatPrompt", "encode_chat", "length_grouped_batches", "shuffled_batches",
           "pad_batch", "pack_batch",
           "padded_width", "shared_prefix_length", "with_system", "IGNORE",
           "TRAIN_FILE", "HELDOUT_FILE", "KNOWLEDGE_FILE", "STATS_FILE"]
