"""bench/random_model.py: a real architecture's shapes with random weights, for speed runs."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import random_model  # noqa: E402
import train_speed  # noqa: E402


def _small_config(tmp_path, vocab: int) -> Path:
    settings = json.loads((BENCH / "configs" / "qwen2.5-0.5b.json").read_text())
    settings.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_window_layers=2, vocab_size=vocab)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    return path


def test_random_model_has_the_config_shapes_and_the_tokenizer_special_ids(tmp_path, tiny_qwen):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen)
    out = random_model.build(_small_config(tmp_path, vocab=len(tokenizer) + 100), tiny_qwen, tmp_path / "model")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "qwen2" and model.config.num_hidden_layers == 2
    assert model.get_output_embeddings().weight.shape[0] == len(tokenizer) + 100  # the config's head, not the tokenizer's
    assert model.config.eos_token_id == tokenizer.eos_token_id and model.config.pad_token_id == tokenizer.pad_token_id
    assert AutoTokenizer.from_pretrained(out).chat_template == tokenizer.chat_template
    assert train_speed.random_weights(str(out)) and not train_speed.random_weights(str(tiny_qwen))


def test_random_model_refuses_a_tokenizer_larger_than_the_vocabulary(tmp_path, tiny_qwen):
    with pytest.raises(SystemExit, match="vocab_size"):
        random_model.build(_small_config(tmp_path, vocab=8), tiny_qwen, tmp_path / "model")
    assert not (tmp_path / "model").exists()
