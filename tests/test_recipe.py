"""Unset settings resolve per (model, method): the preset's measured recipe, else the method's rate."""

import dataclasses

import pytest

from knowtune.config import TrainConfig, load_train_config
from knowtune.methods import get_method, method_names
from knowtune.models import presets
from knowtune.train import resolve_recipe
from knowtune.train.recipe import exposures_per_epoch


@pytest.mark.parametrize("name", method_names())
def test_an_unset_rate_is_the_methods_own(name):
    cfg = resolve_recipe(TrainConfig(model="some/model-dir", method=name))
    assert cfg.learning_rate == get_method(name).default_lr


def test_rates_differ_by_method_and_a_given_rate_wins():
    full = resolve_recipe(TrainConfig(model="some/model-dir", method="full"))
    ia3 = resolve_recipe(TrainConfig(model="some/model-dir", method="ia3"))
    assert full.learning_rate < ia3.learning_rate
    given = resolve_recipe(load_train_config(None, {"method": "full", "learning_rate": 3e-5}))
    assert given.learning_rate == 3e-5


def test_a_preset_recipe_fills_only_what_the_user_left_unset(monkeypatch):
    recipe = {"learning_rate": 7e-4, "epochs": 3.0, "params": {"r": 4, "loraplus_lr_ratio": 0.0}}
    preset = presets.PRESETS["smollm2-135m"]
    monkeypatch.setitem(presets.PRESETS, "smollm2-135m", dataclasses.replace(preset, recipes={"lora": recipe}))
    cfg = resolve_recipe(TrainConfig(model="smollm2-135m", method="lora", params={"r": 32}))
    assert cfg.learning_rate == 7e-4 and cfg.epochs == 3.0
    assert cfg.params == {"r": 32, "loraplus_lr_ratio": 0.0}
    assert resolve_recipe(TrainConfig(model="smollm2-135m", epochs=1.0)).epochs == 1.0
    other = resolve_recipe(TrainConfig(model="smollm2-135m", method="dora"))
    assert other.learning_rate == get_method("dora").default_lr and other.params == {}
    assert other.epochs is None  # without the samples, the epochs stay open
    samples = [{"fact": i % 2} for i in range(16)] + [{"fact": None}] * 5  # 8 samples a fact, 5 replay
    assert resolve_recipe(TrainConfig(model="smollm2-135m", method="dora"), samples).epochs == 2.5  # 20 / 8
    assert resolve_recipe(TrainConfig(exposures=4.0), samples).epochs == 0.5
    assert resolve_recipe(TrainConfig(method="dora"), [{"fact": None}] * 3).epochs == 1.5  # no facts: QA records
    assert resolve_recipe(cfg) == cfg


def test_a_rate_of_zero_or_less_is_still_refused():
    from knowtune.config import KnowtuneError

    with pytest.raises(KnowtuneError, match="learning_rate"):
        load_train_config(None, {"learning_rate": 0})


def test_the_gemma_preset_trains_lora_with_its_measured_recipe():
    cfg = resolve_recipe(TrainConfig(model="gemma3-270m", method="lora"))
    assert cfg.params["loraplus_lr_ratio"] == 4.0 and cfg.exposures == 24.0 and cfg.epochs is None
    assert resolve_recipe(TrainConfig(model="smollm2-135m", method="lora")).params == {}


def test_a_run_writes_the_resolved_settings(tiny_qwen, facts_file, tmp_path):
    import yaml

    from knowtune.train import train_run

    cfg = load_train_config(None, {"model": str(tiny_qwen), "method": "ia3", "batch_size": 4, "replay": 0,
                                   "precision": "fp32", "max_len": 64})
    assert cfg.learning_rate is None and cfg.epochs is None
    run = train_run(cfg, facts_file, tmp_path / "run", quiet=True)
    written = yaml.safe_load((run.path / "config.yaml").read_text())
    from knowtune.data import load_dataset_dir

    per_fact = exposures_per_epoch(load_dataset_dir(run.path / "data")[0])
    assert per_fact > 7  # the augmented set asks each fact more ways than the 5 templates and 2 own questions
    assert written["learning_rate"] == get_method("ia3").default_lr and written["exposures"] == 20.0
    assert written["epochs"] == round(20.0 / per_fact, 3)
    assert run.config.to_dict() == written
