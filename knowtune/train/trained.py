"""A trained adapter on its base model: the base loaded as the method needs it, then the
method's tensors attached (what evaluation, serving and export start from). The half of a run
(config.run.Run) that needs models and methods: serve, export and the commands load a run's
model here; eval receives it loaded."""

from __future__ import annotations

from pathlib import Path

from ..config.run import Run
from ..methods import attach_trained, get_method, read_meta
from ..models import LoadedModel, load_model


def load_trained(adapter_dir: str | Path, *, allow_pickle: bool = False,
                 trust_remote_code: bool = False) -> tuple[LoadedModel, dict]:
    """Base model + trained method, in eval mode, ready for generation."""
    meta = read_meta(adapter_dir)
    method = get_method(meta["method"])
    params = method.parse_params(meta["params"])
    extra = method.load_kwargs(params) if method.load_kwargs else {}
    loaded = load_model(meta["base_model"], allow_pickle=allow_pickle,
                        trust_remote_code=trust_remote_code, **extra)
    loaded.model = attach_trained(loaded.model, adapter_dir, meta)
    loaded.model.eval()
    return loaded, meta


def load_run(run: Run, **load) -> tuple[LoadedModel, dict]:
    """The base model with what the run trained attached, in eval mode; and the adapter's meta
    (method, params, base model). `load`: load_trained's options (allow_pickle, trust_remote_code)."""
    return load_trained(run.adapter_dir, **load)
