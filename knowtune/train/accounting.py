"""Trainable-parameter counts in peft's own format (the logic lives in knowtune.methods.accounting)."""

from ..methods.accounting import count_parameters, trainable_summary

__all__ = ["count_parameters", "trainable_summary"]
