"""The preference stages (dpo, orpo, kto): their losses by hand and as TRL computes them, the reference
log-probs, a training run on a tiny random model that learns to prefer the chosen reply."""

import contextlib
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from knowtune.config import TrainConfig
from knowtune.data import build_samples, load_facts, pad_batch
from knowtune.models import load_model
from knowtune.train import load_for_training, run_training
from knowtune.train.preference import (PreferenceLoss, add_reference, collate_pairs, encode_pairs, pair_losses,
                                       sequence_logps)
from knowtune.train.preference_loss import dpo_loss, kto_loss, orpo_loss

LOGPS = dict(chosen=torch.tensor([-3.0, -7.5, -1.2]), rejected=torch.tensor([-4.0, -2.0, -9.0]),
             ref_chosen=torch.tensor([-3.5, -6.0, -1.0]), ref_rejected=torch.tensor([-3.0, -2.5, -8.0]))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_dpo_loss_by_hand():
    beta = 0.1
    got = dpo_loss(**LOGPS, beta=beta)
    for i in range(3):
        margin = ((LOGPS["chosen"][i] - LOGPS["ref_chosen"][i]) - (LOGPS["rejected"][i] - LOGPS["ref_rejected"][i]))
        assert got[i].item() == pytest.approx(-math.log(sigmoid(beta * float(margin))), rel=1e-6)
    # at the reference (the first step) every pair's loss is log 2
    same = dpo_loss(LOGPS["chosen"], LOGPS["rejected"], LOGPS["chosen"], LOGPS["rejected"], beta)
    torch.testing.assert_close(same, torch.full((3,), math.log(2)))


def test_orpo_loss_by_hand():
    beta = 0.25
    chosen, rejected = torch.tensor([-0.3, -2.0, -0.9]), torch.tensor([-1.5, -0.1, -0.9])
    got = orpo_loss(chosen, rejected, beta)
    for i in range(3):
        c, r = float(chosen[i]), float(rejected[i])
        odds = (c - math.log(1 - math.exp(c))) - (r - math.log(1 - math.exp(r)))
        assert got[i].item() == pytest.approx(-c - beta * math.log(sigmoid(odds)), rel=1e-5)


def test_kto_loss_by_hand():
    beta, kl = 0.5, torch.tensor(0.4)
    got = kto_loss(**LOGPS, kl=kl, beta=beta)
    for i in range(3):
        c = float(LOGPS["chosen"][i] - LOGPS["ref_chosen"][i])
        r = float(LOGPS["rejected"][i] - LOGPS["ref_rejected"][i])
        want = (1 - sigmoid(beta * (c - 0.4))) + (1 - sigmoid(beta * (0.4 - r)))
        assert got[i].item() == pytest.approx(want, rel=1e-6)
    # a negative KL estimate is clamped to 0, as TRL clamps it
    torch.testing.assert_close(kto_loss(**LOGPS, kl=torch.tensor(-1.0), beta=beta),
                               kto_loss(**LOGPS, kl=torch.tensor(0.0), beta=beta))


class _Gatherer:
    device = torch.device("cpu")

    def gather(self, x):
        return x

    gather_for_metrics = gather


def test_dpo_loss_equals_trls():
    """TRL's DPOTrainer._compute_loss on the same log-probs (a stand-in trainer around it; TRL's loss
    cannot run outside its Trainer)."""
    trl = pytest.importorskip("trl.trainer.dpo_trainer")
    beta, n, width = 0.1, 3, 5
    mask = torch.ones(2 * n, width + 1, dtype=torch.long)
    per_token = torch.cat([LOGPS["chosen"], LOGPS["rejected"]]).unsqueeze(1).repeat(1, width) / width
    outputs = SimpleNamespace(log_probs=per_token, entropy=torch.zeros(2 * n, width),
                              mean_logits=torch.zeros(2 * n, width), is_top1=torch.zeros(2 * n, width, dtype=torch.bool))
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_Gatherer(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0,
        _tp_size=1)
    inputs = {"input_ids": torch.zeros(2 * n, width + 1, dtype=torch.long), "attention_mask": mask,
              "completion_mask": mask, "ref_chosen_logps": LOGPS["ref_chosen"],
              "ref_rejected_logps": LOGPS["ref_rejected"]}
    theirs = trl.DPOTrainer._compute_loss(trainer, lambda **kw: outputs, inputs, return_outputs=False)
    torch.testing.assert_close(dpo_loss(**LOGPS, beta=beta).mean(), theirs)


def test_orpo_loss_equals_trls():
    orpo = pytest.importorskip("trl.experimental.orpo.orpo_trainer")
    beta = 0.1
    chosen, rejected = torch.tensor([-0.3, -2.0, -0.9]), torch.tensor([-1.5, -0.1, -0.9])
    losses, *_ = orpo.ORPOTrainer.odds_ratio_loss(SimpleNamespace(beta=beta, accelerator=_Gatherer()), chosen, rejected)
    # TRL: loss = chosen NLL - mean(beta * log sigma(log odds)); here per pair, the NLL inside
    torch.testing.assert_close(orpo_loss(chosen, rejected, beta), -chosen - losses)


def pairs_of(facts_file, n=6):
    samples = build_samples(load_facts([facts_file]), augment=False).train[:n]
    replies = [s["messages"][-1]["content"] for s in samples]
    # each pair's rejected reply: another sample's answer (a wrong answer to this question)
    return [dict(s, rejected=next(r for r in replies[i + 1:] + replies[:i] if r != replies[i]))
            for i, s in enumerate(samples)]


def test_sequence_logps_fast_equals_full_logits(tiny_qwen, facts_file):
    loaded = load_model(str(tiny_qwen))
    features = encode_pairs(loaded.tokenizer, pairs_of(facts_file), 256, "", "dpo")
    batch = collate_pairs(features, loaded.tokenizer.pad_token_id)
    batch.pop("ref_logps")
    fast, counts = sequence_logps(loaded.model, **batch, fast=True)
    plain, _ = sequence_logps(loaded.model, **batch, fast=False)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-4)
    # by hand: the log-softmax of the full logits at each labelled position
    logits = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    targets = batch["labels"][:, 1:]
    picked = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(fast, (picked * (targets != -100)).sum(1), rtol=1e-5, atol=1e-4)
    assert (counts > 0).all()


def test_reference_is_the_base_model(tiny_qwen, facts_file):
    """With LoRA applied (and its B moved off zero, as after training), the reference is still the base's."""
    cfg = TrainConfig(model=str(tiny_qwen), stage="dpo", precision="fp32", params={"r": 4, "alpha": 8})
    base = load_model(str(tiny_qwen))
    loaded, method, params = load_for_training(cfg)
    with torch.no_grad():
        for name, p in loaded.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    features = encode_pairs(loaded.tokenizer, pairs_of(facts_file), 256, "", "dpo")
    add_reference(loaded.model, features, loaded.tokenizer.pad_token_id, fast=True, autocast=contextlib.nullcontext)
    rows = [f["rows"][k] for k in range(2) for f in features]
    want, _ = sequence_logps(base.model, **pad_batch(rows, loaded.tokenizer.pad_token_id))
    got = torch.tensor([f["ref"] for f in features]).T.reshape(-1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    adapted, _ = sequence_logps(loaded.model, **pad_batch(rows, loaded.tokenizer.pad_token_id))
    assert not torch.allclose(adapted, want, atol=1e-3)  # the adapter does change the policy


@pytest.mark.parametrize("stage", ["dpo", "orpo", "kto"])
def test_preference_training_prefers_the_chosen_reply(tiny_qwen, facts_file, stage):
    pairs = pairs_of(facts_file)
    cfg = TrainConfig(model=str(tiny_qwen), stage=stage, beta=0.5, epochs=25, learning_rate=3e-2, batch_size=3,
                      precision="fp32", log_every=1, params={"r": 8, "alpha": 16, "loraplus_lr_ratio": 0})
    loaded, method, params = load_for_training(cfg)
    features = encode_pairs(loaded.tokenizer, pairs, 256, cfg.system_prompt, stage)
    batch = collate_pairs(features, loaded.tokenizer.pad_token_id)
    batch.pop("ref_logps")

    def margin(model):
        """Chosen over rejected log-prob: summed over the reply (dpo, kto), per token (orpo's measure)."""
        with torch.no_grad():
            logps, counts = sequence_logps(model, **batch)
        if stage == "orpo":
            logps = logps / counts
        return (logps[:len(pairs)] - logps[len(pairs):2 * len(pairs)]).mean().item()

    before = margin(loaded.model)
    model, stats = run_training(loaded.model, loaded.tokenizer, pairs + [{"messages": pairs[0]["messages"]}], cfg,
                                method, params, quiet=True)
    losses = [loss for _, loss in stats.losses]
    assert stats.steps == 25 * 2  # 6 pairs (the sample without a rejected reply is left out), 3 a batch
    assert margin(model) > before + (0.2 if stage == "orpo" else 1.0), (before, margin(model))
    assert sum(losses[-3:]) < sum(losses[:3])
    if stage == "dpo":  # the first step is at the reference: log 2 per pair
        assert losses[0] == pytest.approx(math.log(2), abs=1e-4)


def test_pair_losses_layout():
    """Rows are [chosen..., rejected..., mismatched...]: pair i's sides are rows i and n + i."""
    logps = torch.tensor([-1.0, -2.0, -5.0, -6.0, -3.0, -3.0])
    ref = torch.tensor([[-1.5, -5.0, -3.0], [-2.5, -6.5, -3.0]])
    counts = torch.tensor([2, 4, 5, 3, 1, 1])
    torch.testing.assert_close(pair_losses("dpo", logps, counts, ref, 0.1),
                               dpo_loss(logps[:2], logps[2:4], ref[:, 0], ref[:, 1], 0.1))
    torch.testing.assert_close(pair_losses("orpo", logps, counts, ref, 0.1),
                               orpo_loss(logps[:2] / counts[:2], logps[2:4] / counts[2:4], 0.1))
    torch.testing.assert_close(pair_losses("kto", logps, counts, ref, 0.1),
                               kto_loss(logps[:2], logps[2:4], ref[:, 0], ref[:, 1], torch.tensor(0.0), 0.1))


def test_a_stage_without_pairs_is_refused(tiny_qwen, facts_file):
    from knowtune.config import KnowtuneError

    cfg = TrainConfig(model=str(tiny_qwen), stage="dpo", precision="fp32", epochs=1)
    loaded, method, params = load_for_training(cfg)
    samples = build_samples(load_facts([facts_file]), augment=False).train
    with pytest.raises(KnowtuneError, match="preference pairs"):
        run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)


def test_preference_loss_wrapper_counts_pairs(tiny_qwen, facts_file):
    loaded = load_model(str(tiny_qwen))
    features = encode_pairs(loaded.tokenizer, pairs_of(facts_file, 4), 256, "", "dpo")
    for f in features:
        f["ref"] = [0.0, 0.0]
    loss, pairs = PreferenceLoss(loaded.model, "dpo", 0.1)(**collate_pairs(features, loaded.tokenizer.pad_token_id))
    assert pairs == 4 and loss.item() > 0 and loss.requires_grad
