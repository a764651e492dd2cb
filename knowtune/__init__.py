"""knowtune: teach a small language model a knowledge base by fine-tuning, and prove it learned."""

__version__ = "0.1.0"
