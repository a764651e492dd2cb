"""Resumable checkpoints, written whole or not at all.

A checkpoint holds what a bit-exact resume needs: the trained tensors, optimizer and
scheduler state, every RNG state and the optimizer step reached (the data order is a
pure function of seed and epoch, so the step fixes the data position).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import torch

CHECKPOINTS = "checkpoints"


def _rng_state() -> dict:
    """RNG states as tensors and JSON-able values: no pickle in a checkpoint."""
    version, internal, gauss = random.getstate()
    state = {"python": [version, list(internal), gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, step: int, model, optimizer, scheduler, *, keep: int = 2,
                    progress: dict | None = None, names: list[str] | None = None) -> Path:
    """Write checkpoints/step-N via a temporary directory and a rename."""
    from safetensors.torch import save_file

    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # `names`: what the method trains, fixed at the start (BAdam flips requires_grad block by block)
    wanted = set(names) if names is not None else {n for n, p in model.named_parameters() if p.requires_grad}
    trained = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if n in wanted}
    save_file(trained, str(tmp / "trained.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": _rng_state()}, tmp / "state.pt")
    (tmp / "step.json").write_text(json.dumps({"step": step, **(progress or {})}) + "\n")
    _fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (temporary directories of a killed write are ignored)."""
    root = Path(run_dir) / CHECKPOINTS
    done = [p for p in sorted(root.glob("step-*")) if (p / "step.json").is_file()]
    return done[-1] if done else None


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Restore a checkpoint into live objects; returns {"step": N, ...progress saved with it}."""
    from safetensors.torch import load_file

    trained = load_file(str(path / "trained.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in trained.items():
            params[name].copy_(tensor)
    state = torch.load(path / "state.pt", weights_only=True)  # tensors and numbers only: no code runs
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return json.loads((path / "step.json").read_text())


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir():
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())
