"""A run directory read through Run: refusals, config and system prompt, data set, progress log;
and a training run resolves its recipe once."""

import json

import pytest
import yaml

from knowtune.config import KnowtuneError, TrainConfig
from knowtune.config.run import Run, partial_dir


def fake_run(path, **info):
    (path / "adapter").mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"model": "smollm2-135m", "system_prompt": "Be brief."}))
    if info:
        (path / "run.json").write_text(json.dumps(info))
    return path


def test_open_refuses_a_folder_without_what_was_trained(tmp_path):
    with pytest.raises(KnowtuneError, match=r"not a run directory \(no adapter/\)") as err:
        Run.open(tmp_path, "--runs")
    assert "--runs" in str(err.value)
    assert Run.open(fake_run(tmp_path / "r")).name == "r"


def test_config_system_prompt_and_info(tmp_path):
    run = Run.open(fake_run(tmp_path / "r", model="m", data="data"))
    assert run.system_prompt == "Be brief." and run.config().model == "smollm2-135m"
    assert run.info()["model"] == "m"
    assert Run.open(fake_run(tmp_path / "bare")).info() == {}


def test_a_run_named_by_a_string_reads_as_one_named_by_a_path(tmp_path):
    # the web UI's run dropdown hands over a str
    fake_run(tmp_path / "r")
    run = Run(str(tmp_path / "r"))
    assert run.path == tmp_path / "r" and run.system_prompt == "Be brief." and run.adapter_dir.is_dir()


def test_data_dir_is_inside_or_where_run_json_says(tmp_path):
    assert Run(fake_run(tmp_path / "a", data="data")).data_dir() == tmp_path / "a" / "data"
    assert Run(fake_run(tmp_path / "b", data=str(tmp_path / "elsewhere"))).data_dir() == tmp_path / "elsewhere"
    assert Run(fake_run(tmp_path / "c")).data_dir() == tmp_path / "c" / "data"


def test_progress_log_prefers_the_run_being_written(tmp_path):
    run = Run(tmp_path / "r")
    assert run.progress_log() == []
    run.path.mkdir()
    run.progress_file.write_text('{"step": 1}\n')
    assert run.progress_log() == [{"step": 1}]
    partial_dir(run.path).mkdir()
    run.partial.progress_file.write_text('{"step": 7}\n{"step": 8, "lo')  # the last line half written
    assert run.progress_log() == [{"step": 7}]


def test_a_training_run_resolves_its_recipe_once(tiny_qwen, facts_file, tmp_path, monkeypatch):
    from knowtune.train import loop, recipe
    from knowtune.train import run as run_module

    calls = []

    def counted(cfg, samples=None):
        calls.append(samples is not None)
        return recipe.resolve_recipe(cfg, samples)

    for module in (run_module, loop):
        monkeypatch.setattr(module, "resolve_recipe", counted)
    cfg = TrainConfig(model=str(tiny_qwen), epochs=1, min_steps=0, replay=0, batch_size=8, precision="fp32")
    result = run_module.train_run(cfg, facts_file, tmp_path / "run", quiet=True)
    assert calls == [True]  # once, with the samples (the epochs depend on them)
    assert Run.open(result.path).config().learning_rate == result.config.learning_rate
