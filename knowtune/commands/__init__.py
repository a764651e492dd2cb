"""Command bodies behind cli.py (top layer: may import everything below)."""
