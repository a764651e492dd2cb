import pytest

from knowtune.config import KnowtuneError, load_train_config, parse_override


def test_defaults_and_overrides():
    cfg = load_train_config(None, {"epochs": "2", "params.r": 4, "learning_rate": 0.01})
    assert cfg.epochs == 2.0 and cfg.params == {"r": 4} and cfg.learning_rate == 0.01


def test_unknown_key_names_file_line_and_allowed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method: lora\nepochs: 2\nepoch: 3\n")
    with pytest.raises(KnowtuneError) as err:
        load_train_config(path)
    text = str(err.value)
    assert text.startswith(f"{path}:3: field 'epoch': unknown key")
    assert "epochs" in text and "\n" not in text


@pytest.mark.parametrize("line,field,why", [
    ("epochs: many", "epochs", "must be a number"),
    ("batch_size: 0", "batch_size", "must be > 0"),
    ("precision: fp8", "precision", "must be one of"),
    ("seed: 1.5", "seed", "must be an integer"),
])
def test_bad_values(tmp_path, line, field, why):
    path = tmp_path / "c.yaml"
    path.write_text(f"model: smollm2-135m\n{line}\n")
    with pytest.raises(KnowtuneError) as err:
        load_train_config(path)
    assert f"{path}:2: field '{field}': {why}" in str(err.value)


def test_invalid_yaml_and_not_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(KnowtuneError, match="invalid YAML"):
        load_train_config(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(KnowtuneError, match="mapping"):
        load_train_config(path)


def test_parse_override():
    assert parse_override("params.target_modules=[q_proj, v_proj]") == ("params.target_modules", ["q_proj", "v_proj"])
    assert parse_override("epochs=3") == ("epochs", 3)
    with pytest.raises(KnowtuneError):
        parse_override("noequals")


def test_method_params_refuse_unknown_with_allowed_list():
    from knowtune.methods import get_method

    method = get_method("lora")
    assert method.parse_params({"r": 4}).r == 4
    with pytest.raises(KnowtuneError) as err:
        method.parse_params({"rank": 4})
    assert "params.rank" in str(err.value) and "alpha" in str(err.value)
    with pytest.raises(KnowtuneError, match="unknown method"):
        get_method("lorax")


def test_field_docs_become_help():
    from knowtune.config import TrainConfig, field_docs

    docs = field_docs(TrainConfig)
    assert "Passes over the training set" in docs["epochs"]


@pytest.mark.parametrize("text,why", [
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "levels deep"),          # PyYAML's own recursion
    ("a: " + "[" * 80 + "]" * 80 + "\n", "levels deep"),              # under Python's limit, over ours
    ("x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(          # aliases: 10**8 values from 10 lines
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)), "aliases"),
])
def test_hostile_yaml_is_one_line(tmp_path, text, why):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(KnowtuneError, match=why) as err:
        load_train_config(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_yaml_key_lines_survive_the_iterative_walk(tmp_path):
    from knowtune.config.yamlfile import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("model: m\nparams:\n  r: 4\n  target_modules:\n    - q_proj\nepochs: 1\nepochs: 2\n")
    data, lines = load_yaml(path)
    assert data["epochs"] == 2 and data["params"]["r"] == 4
    assert lines == {"model": 1, "params": 2, "params.r": 3, "params.target_modules": 4, "epochs": 7}


def test_validate_is_the_one_way_rules_are_stated_and_errors_name_the_field_as_written():
    from dataclasses import dataclass

    from knowtune.config.coerce import check_valid, cli_flag

    @dataclass
    class Options:
        top_k: int = 1

        def validate(self) -> None:
            if self.top_k < 1:
                raise ValueError(f"top_k: must be >= 1, got {self.top_k}")

    check_valid(Options())
    with pytest.raises(KnowtuneError) as flag:
        check_valid(Options(top_k=0), field=cli_flag)
    assert (flag.value.field, flag.value.message) == ("--top-k", "must be >= 1, got 0")
    with pytest.raises(KnowtuneError) as key:
        check_valid(Options(top_k=0), file="c.yaml", lines={"top_k": 4})
    assert str(key.value) == "c.yaml:4: field 'top_k': must be >= 1, got 0"
