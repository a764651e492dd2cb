"""What a model is trained on for a question is, token for token, what it is asked at inference.

For each preset, a tiny random model of the preset's architecture (its bundled config, shrunk)
with a tokenizer of the preset's special tokens and chat template behaviour is trained by
train_run. The token ids training took for each question (captured where the loop encodes
its samples) must equal the ids each inference path hands the model (captured at
model.generate): evaluation, the engine behind chat, the API and the web UI, replay, and an
exported model's own chat template. The answer's training target must end with a token that
inference stops on. The last tests show the check fails when the system prompt is dropped at
inference or the stop token is not one generation stops on.
"""

import json
from pathlib import Path

import pytest

from knowtune.config import TrainConfig
from knowtune.config.run import Run
from knowtune.data import IGNORE
from knowtune.models import PRESETS, stop_token_ids
from knowtune.models.meta import ARCH_DIR
from tiny import CORPUS, TINY_FACTS

SYSTEM = "You answer questions about Hainan."
# SmolLM2's template puts a default system message of its own before a chat that brings none
SMOL_LIKE = ("{%- if not messages or messages[0]['role'] != 'system' -%}"
             "{{ '<|im_start|>system\nA default system message.<|im_end|>\n' }}{%- endif -%}"
             "{%- for m in messages -%}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
             "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}")
# the special tokens and template of each preset's converted tokenizer (Gemma-3-270M is a base
# model without a template: knowtune gives it models.chat_template's default)
TOKENIZERS = {
    "smollm2-135m": dict(specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos="<|im_start|>",
                         eos="<|im_end|>", pad="<|im_end|>", template=SMOL_LIKE),
    "gemma3-270m": dict(specials=["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], bos="<bos>",
                        eos="<eos>", pad="<pad>", template=None),
}
SHRUNK = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=1, head_dim=8, max_position_embeddings=512)


def preset_tokenizer(preset: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = TOKENIZERS[preset]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=spec["specials"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=spec["bos"], eos_token=spec["eos"],
                                   pad_token=spec["pad"])
    if spec["template"]:
        fast.chat_template = spec["template"]
    return fast


def tiny_preset_dir(preset: str, path: Path) -> Path:
    """A random model of the preset's architecture, shrunk, with its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = preset_tokenizer(preset)
    values = {**json.loads((ARCH_DIR / f"{preset}.json").read_text()), **SHRUNK}
    if "layer_types" in values:
        values["layer_types"] = values["layer_types"][:SHRUNK["num_hidden_layers"]]
    values.update(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=sorted(PRESETS))
def trained(request, tmp_path_factory):
    """(run directory, {question: (answer, training features)}) of a one-epoch run on the tiny preset."""
    from knowtune.train import loop, train_run

    work = tmp_path_factory.mktemp(request.param)
    model_dir = tiny_preset_dir(request.param, work / "model")
    facts = work / "facts.jsonl"
    facts.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in TINY_FACTS), encoding="utf-8")
    seen = {}
    real_encode = loop.encode_samples

    def encode_samples(tokenizer, samples, max_len, system_prompt=""):
        features = real_encode(tokenizer, samples, max_len, system_prompt)
        for sample, feature in zip(samples, features):
            if [m["role"] for m in sample["messages"]] == ["user", "assistant"]:  # one question, one answer
                user, answer = sample["messages"]
                seen[user["content"]] = (answer["content"], feature)
        return features

    cfg = TrainConfig(model=str(model_dir), system_prompt=SYSTEM, epochs=1, min_steps=0, replay=0, batch_size=8,
                      precision="fp32", learning_rate=1e-3, params={"r": 2, "alpha": 4})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "encode_samples", encode_samples)
        result = train_run(cfg, facts, work / "run", quiet=True)
    asked = {q: seen[q] for q in sorted(seen)[:3]}
    return result.path, asked


def record_asked(model, monkeypatch) -> list:
    """Every prompt handed to generation, greedy (models.greedy) or transformers' generate (streaming,
    sampling): (its token ids without padding, the ids it stops on)."""
    import knowtune.models.generate as generation

    calls = []
    real_generate, real_greedy = model.generate, generation.greedy_decode

    def record(input_ids, attention_mask, stops):
        for row, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            calls.append(([t for t, keep in zip(row, mask) if keep], list(stops)))

    def generate(*args, **kwargs):
        record(kwargs["input_ids"], kwargs["attention_mask"], kwargs["eos_token_id"])
        return real_generate(*args, **kwargs)

    def greedy(model, input_ids, attention_mask, **kwargs):
        record(input_ids, attention_mask, kwargs["stops"])
        return real_greedy(model, input_ids, attention_mask, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    monkeypatch.setattr(generation, "greedy_decode", greedy)
    return calls


def parity_problems(feature: dict, asked: list[int], stops: list[int], tokenizer, answer: str) -> list[str]:
    """Why what was asked is not what was trained (empty: it is)."""
    ids, labels = feature["input_ids"], feature["labels"]
    problems = []
    if ids[:len(asked)] != asked:
        problems.append(f"asked {tokenizer.decode(asked)!r}, trained on {tokenizer.decode(ids)!r}")
    start = next((i for i, label in enumerate(labels) if label != IGNORE), len(labels))
    if start != len(asked):
        problems.append(f"the answer is trained from token {start}, the prompt asked has {len(asked)}")
    target = ids[start:]
    stop = next((i for i, t in enumerate(target) if t in stops), None)
    if stop is None:
        problems.append(f"the target {tokenizer.decode(target)!r} holds no token generation stops on")
    elif tokenizer.decode(target[:stop]).strip() != answer or tokenizer.decode(target[stop + 1:]).strip():
        problems.append(f"the target {tokenizer.decode(target)!r} is not the answer and then the stop token")
    return problems


def _load(run: Path):
    from knowtune.train.trained import load_run

    loaded, _ = load_run(Run(run))
    return loaded


def each_question_asked_as_trained(model, tokenizer, asked, monkeypatch, ask) -> None:
    """`ask(question)` must hand generation the trained ids up to the answer, and the trained stop."""
    calls = record_asked(model, monkeypatch)
    for question, (answer, feature) in asked.items():
        calls.clear()
        ask(question)
        (ids, stops), = calls
        assert parity_problems(feature, ids, stops, tokenizer, answer) == []


def test_eval_asks_what_training_taught(trained, monkeypatch):
    from knowtune.eval import answer_questions

    run, asked = trained
    loaded = _load(run)
    each_question_asked_as_trained(loaded.model, loaded.tokenizer, asked, monkeypatch, lambda q: answer_questions(
        loaded.model, loaded.tokenizer, [{"question": q, "answers": ["x"]}], system=Run(run).system_prompt,
        max_new_tokens=2))


@pytest.mark.parametrize("streamed", [False, True])
def test_the_engine_asks_what_training_taught(trained, monkeypatch, streamed):
    """The engine of `knowtune chat`, `serve` and the web UI's Chat tab, opened on the run."""
    from knowtune.serve.engine import Engine

    run, asked = trained
    engine = Engine.from_run(run)
    # the run's adapter merged once, at load: for good without routing, beside the base tensors with it
    assert not hasattr(Engine.from_run(run, route=False).loaded.model, "peft_config")
    layers = [m for m in engine.loaded.model.modules() if hasattr(m, "merged_adapters")]
    assert engine.scope is not None and layers and all(m.merged for m in layers)
    assert len(engine.grounding) == len(TINY_FACTS)  # replies checked against the run's own facts

    def ask(question):
        chat = [{"role": "user", "content": question}]
        return list(engine.stream(chat, max_new_tokens=2)) if streamed else engine.chat(chat, max_new_tokens=2)

    each_question_asked_as_trained(engine.loaded.model, engine.tokenizer, asked, monkeypatch, ask)


def test_replay_asks_the_base_as_training_renders(trained, monkeypatch, tmp_path):
    from knowtune.train.replay import _answer

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path))  # asked, not read from an earlier run's answers
    run, asked = trained
    loaded = _load(run)
    each_question_asked_as_trained(loaded.model, loaded.tokenizer, asked, monkeypatch, lambda q: _answer(
        loaded.model, loaded.tokenizer, "parity", [[]], [q], Run(run).system_prompt, False, None))


def test_an_exported_model_is_asked_what_training_taught(trained, tmp_path):
    """A plain apply_chat_template on the export, without knowtune: the system prompt is in its template."""
    from transformers import AutoTokenizer

    from knowtune.export import merge_run, save_hf

    run, asked = trained
    save_hf(merge_run(Run(run)), tmp_path, "float32")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    for question, (answer, feature) in asked.items():
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert parity_problems(feature, ids, stop_token_ids(tokenizer), tokenizer, answer) == []


def test_the_check_fails_when_inference_drops_the_system_prompt(trained, monkeypatch):
    from knowtune.serve.engine import Engine

    run, asked = trained
    engine = Engine.from_run(run)
    engine.system_prompt = ""  # the template's own default (or none) instead of the run's
    calls = record_asked(engine.loaded.model, monkeypatch)
    question, (answer, feature) = next(iter(asked.items()))
    engine.chat([{"role": "user", "content": question}], max_new_tokens=2)
    (ids, stops), = calls
    problems = parity_problems(feature, ids, stops, engine.tokenizer, answer)
    assert problems and "asked" in problems[0]


def test_the_check_fails_when_generation_stops_on_another_token(trained):
    run, asked = trained
    tokenizer = _load(run).tokenizer
    question, (answer, feature) = next(iter(asked.items()))
    prompt = feature["input_ids"][:[label != IGNORE for label in feature["labels"]].index(True)]
    learned = stop_token_ids(tokenizer)
    assert parity_problems(feature, prompt, learned, tokenizer, answer) == []
    other = [next(i for i in range(len(tokenizer)) if i not in learned and i not in feature["input_ids"])]
    problems = parity_problems(feature, prompt, other, tokenizer, answer)
    assert problems and "stops on" in problems[0]
