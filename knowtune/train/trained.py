"""A run's trained model, loaded: the half of a run (config.run.Run) that needs models and methods.

Serve, export and the commands load a run's model here; eval receives it loaded.
"""

from __future__ import annotations

from ..config.run import Run
from ..methods import load_trained
from ..models import LoadedModel


def load_run(run: Run, **load) -> tuple[LoadedModel, dict]:
    """The base model with what the run trained attached, in eval mode; and the adapter's meta
    (method, params, base model). `load`: load_trained's options (allow_pickle, trust_remote_code)."""
    return load_trained(run.adapter_dir, **load)
