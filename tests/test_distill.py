"""Replay answers taught as the base model's top-k distribution (train/distill.py)."""

import json

import pytest
import torch

from knowtune.data import IGNORE, build_samples, encode_chat, load_facts, pack_batch, pad_batch, with_system
from knowtune.data.collate import answer_positions
from knowtune.methods import get_method
from knowtune.models import load_model
from knowtune.train import replay as replay_mod
from knowtune.train.attention import register, training_attention
from knowtune.train.distill import add_soft_targets
from knowtune.train.loss import CausalLMLoss


def _lora_model_and_features(model_dir, facts_file, n=4):
    loaded = load_model(str(model_dir))
    spec = get_method("lora")
    torch.manual_seed(0)
    model = spec.apply(loaded.model.double(), spec.parse_params({}))
    for name, p in model.named_parameters():
        if "lora_B" in name:  # an adapter that changes the outputs, as after some training
            torch.nn.init.normal_(p, std=0.2)
    samples = build_samples(load_facts([facts_file])).train[:n]
    features = [encode_chat(loaded.tokenizer, with_system(s["messages"], "You are a helpful assistant."), 256)
                for s in samples]
    return model, features, loaded.tokenizer.pad_token_id


def test_soft_targets_line_up_with_the_answer_tokens_padded_and_packed():
    hard = {"input_ids": [1, 2, 3, 7, 8], "labels": [IGNORE, IGNORE, IGNORE, 7, 8]}
    soft = {"input_ids": [1, 2, 4, 9, 5], "labels": [IGNORE, IGNORE, IGNORE, 9, 5],
            "soft_ids": [[9, 11, 12], [5, 13, 14]], "soft_weights": [[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]}
    for batch in (pad_batch([hard, soft], 0, multiple=8), pack_batch([hard, soft], 0, multiple=8, share_prefix=True)):
        labels = batch["labels"][:, 1:]
        assert batch["soft_ids"][:, 0].tolist() == labels[labels != IGNORE].tolist() == [7, 8, 9, 5]
        assert batch["soft_ids"].tolist() == [[7, 0, 0], [8, 0, 0], [9, 11, 12], [5, 13, 14]]
        assert batch["soft_weights"][:2].tolist() == [[1.0, 0.0, 0.0]] * 2  # the hard sample: its label alone
    assert "soft_ids" not in pad_batch([hard], 0)  # no soft sample: the batch is as before
    with pytest.raises(ValueError, match="soft targets for 1 answer tokens"):
        pad_batch([{**soft, "soft_ids": soft["soft_ids"][:1], "soft_weights": soft["soft_weights"][:1]}], 0)


def _loss(model, batch):
    model.zero_grad()
    loss, _ = CausalLMLoss(model)(**batch)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_loss_is_cross_entropy_to_the_soft_targets(tiny_model, facts_file):
    """Packed row, chunked head: equal to -sum w log softmax from the model's full logits; a
    distribution of weight 1 on the label is the hard loss, gradients included."""
    model, features, pad = _lora_model_and_features(tiny_model, facts_file)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(1)
    for f in features[:2]:
        labels = [f["labels"][i] for i in answer_positions(f["labels"])]
        others = torch.randint(0, vocab, (len(labels), 2), generator=gen).tolist()
        f["soft_ids"] = [[label, *rest] for label, rest in zip(labels, others)]
        w = torch.rand(len(labels), 3, generator=gen, dtype=torch.float64)
        f["soft_weights"] = (w / w.sum(dim=1, keepdim=True)).tolist()
    with training_attention(model, register()):
        got, _ = _loss(model, pack_batch(features, pad, multiple=8, share_prefix=True))
    padded = pad_batch(features, pad)
    logits = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits[:, :-1]
    mask = padded["labels"][:, 1:] != IGNORE
    log_probs = torch.log_softmax(logits[mask].double(), dim=-1)
    want = -(log_probs.gather(1, padded["soft_ids"]) * padded["soft_weights"].double()).sum()
    torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=1e-8)
    hard_features = [{k: f[k] for k in ("input_ids", "labels")} for f in features]
    as_one_hot = [{**f, "soft_ids": [[f["labels"][i], 0] for i in answer_positions(f["labels"])],
                   "soft_weights": [[1.0, 0.0]] * len(answer_positions(f["labels"]))} for f in hard_features]
    with training_attention(model, register()):
        hard_loss, hard_grads = _loss(model, pack_batch(hard_features, pad, multiple=8))
        one_hot_loss, one_hot_grads = _loss(model, pack_batch(as_one_hot, pad, multiple=8))
    torch.testing.assert_close(one_hot_loss, hard_loss, rtol=1e-12, atol=1e-12)
    for name, grad in hard_grads.items():
        torch.testing.assert_close(one_hot_grads[name], grad, rtol=1e-10, atol=1e-12, msg=name)


def test_teacher_is_the_base_model_top_k_with_the_adapter_off(tiny_model, facts_file):
    model, features, pad = _lora_model_and_features(tiny_model, facts_file)
    add_soft_targets(model, features, [1, 3], 5, pad, batch_size=1)
    assert "soft_ids" not in features[0] and "soft_ids" not in features[2]  # only the samples named
    base_logits, adapted_logits = [], []
    for f in (features[1], features[3]):
        ids = torch.tensor([f["input_ids"]])
        with model.disable_adapter():
            base_logits.append(model(input_ids=ids).logits[0])
        adapted_logits.append(model(input_ids=ids).logits[0])
    differs = False
    for f, base, adapted in zip((features[1], features[3]), base_logits, adapted_logits):
        before = [i - 1 for i in answer_positions(f["labels"])]
        top = torch.softmax(base[before].double(), dim=-1).topk(5)
        assert f["soft_ids"] == top.indices.tolist()
        weights = torch.tensor(f["soft_weights"], dtype=torch.float64)
        torch.testing.assert_close(weights, top.values / top.values.sum(dim=1, keepdim=True), rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(before), dtype=weights.dtype))
        differs |= adapted[before].argmax(-1).tolist() != [row[0] for row in f["soft_ids"]]
    assert differs  # the adapter moves the argmax: the targets above came from the base alone


def test_train_run_with_replay_topk_trains_the_replay_towards_the_distribution(tmp_path, monkeypatch, tiny_qwen,
                                                                                facts_file):
    from knowtune.config import TrainConfig
    from knowtune.train import train_run
    from knowtune.train import loop

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(replay_mod, "generate_batch",
                        lambda model, tok, prompts, **kw: [f"Answer {i}." for i in range(len(prompts))])
    given = []
    real = loop.add_soft_targets
    monkeypatch.setattr(loop, "add_soft_targets", lambda model, features, indices, k, *a, **kw: (
        given.append((len(features), indices, k)), real(model, features, indices, k, *a, **kw))[1])
    cfg = dict(model=str(tiny_qwen), epochs=1, min_steps=0, batch_size=4, learning_rate=1e-3, seed=0, replay=6,
               log_every=1)
    soft = train_run(TrainConfig(**cfg, replay_topk=4), str(facts_file), tmp_path / "a", quiet=True)
    (n, indices, k), = given
    rows = [json.loads(line) for line in (tmp_path / "a" / "replay.jsonl").read_text().splitlines()]
    assert k == 4 and indices == list(range(n - len(rows), n))  # the replay samples, appended last
    hard = train_run(TrainConfig(**cfg, replay_topk=1), str(facts_file), tmp_path / "b", quiet=True)
    assert len(given) == 1  # top-1: no teacher pass
    same = [a == b for a, b in zip(soft.stats.losses, hard.stats.losses)]
    assert same[0] and not all(same)  # the same batches: the same loss until the first replay sample
