"""Trainable-parameter counts in peft's own format."""

from __future__ import annotations


def count_parameters(model) -> tuple[int, int]:
    """(trainable, all), counted as peft's print_trainable_parameters does."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if n == 0 and hasattr(p, "ds_numel"):
            n = p.ds_numel
        if p.__class__.__name__ == "Params4bit":  # bitsandbytes packs two 4-bit values per byte
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def trainable_summary(model) -> str:
    trainable, total = count_parameters(model)
    pct = 100 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {pct:.4f}"
