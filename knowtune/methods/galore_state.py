"""GaLore optimizers whose state_dict holds tensors and numbers only, so checkpoints resume.

galore-torch keeps a GaLoreProjector object in the state of every projected matrix; a
checkpoint loaded with torch.load(weights_only=True) (no code runs while loading) refuses
it. The projector is only its settings (taken from the parameter group) and its current
orthogonal matrix, so the state_dict stores the matrix and loading rebuilds the object.
"""

from __future__ import annotations

import functools

MATRIX = "galore_projection"


def _plain(state_dict: dict) -> dict:
    state = {}
    for index, entry in state_dict["state"].items():
        entry = dict(entry)  # the live state's own dict: copy before changing it
        projector = entry.pop("projector", None)
        if projector is not None and projector.ortho_matrix is not None:
            entry[MATRIX] = projector.ortho_matrix
        state[index] = entry
    return {**state_dict, "state": state}


def _rebuild(optimizer, projector_cls) -> None:
    for group in optimizer.param_groups:
        for param in group["params"]:
            entry = optimizer.state.get(param, {})
            if MATRIX in entry:
                projector = projector_cls(group["rank"], update_proj_gap=group["update_proj_gap"],
                                          scale=group["scale"], proj_type=group["proj_type"])
                projector.ortho_matrix = entry.pop(MATRIX)
                entry["projector"] = projector


@functools.lru_cache(maxsize=None)
def resumable(optimizer_cls: type) -> type:
    """`optimizer_cls` (GaLoreAdamW, GaLoreAdafactor) with a tensors-only state_dict."""
    from galore_torch.galore_projector import GaLoreProjector

    class Resumable(optimizer_cls):
        def state_dict(self):
            return _plain(super().state_dict())

        def load_state_dict(self, state_dict):
            super().load_state_dict(state_dict)
            _rebuild(self, GaLoreProjector)

    Resumable.__name__ = Resumable.__qualname__ = f"Resumable{optimizer_cls.__name__}"
    return Resumable
