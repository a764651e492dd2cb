"""Every registered method keeps the method contract, on tiny random Qwen2 and Llama models.

For each method, with the small settings its module gives (TEST_SETTINGS): the loss on a fixed
batch falls; exactly the intended tensors train (their number is the module's trainable_count,
arithmetic on the architecture, independent of peft) and every other tensor stays
bit-identical; save -> load onto a fresh base gives the same logits; merged logits equal the
adapter's; and `count_parameters` agrees with peft / requires_grad.
All in fp32 for exactness; `test_trains_in_bf16` checks each method once under bf16.
"""

import math

import pytest
import torch

from knowtune.config import KnowtuneError, TrainConfig
from knowtune.data import build_samples, encode_chat, load_facts, pad_batch
from knowtune.methods import attach_trained, get_method, merge_trained, method_names, read_meta, save_trained
from knowtune.methods.layers import base_model
from knowtune.models import load_model
from knowtune.train import count_parameters, load_for_training, run_training
from knowtune.train.loss import CausalLMLoss


def fixed_batch(tokenizer, samples):
    return pad_batch([encode_chat(tokenizer, s["messages"], 256) for s in samples], tokenizer.pad_token_id)


@torch.no_grad()
def fixed_loss(model, method, batch) -> float:
    was_training = model.training
    model.eval()
    loss_sum, n = CausalLMLoss(model, fast=not method.uses_model_forward)(**batch)
    model.train(was_training)
    return float(loss_sum / n)


@torch.no_grad()
def logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def base_state(model) -> dict:
    """The base model's tensors by their original names (peft's `.base_layer` removed)."""
    return {n.replace(".base_layer", ""): t for n, t in base_model(model).state_dict().items()}


def trainable_base_names(model) -> set:
    return {n.replace(".base_layer", "") for n, p in base_model(model).named_parameters() if p.requires_grad}


def make_cfg(model_dir, name, **kw):
    tiny = get_method(name).test_settings
    base = dict(model=str(model_dir), method=name, params=tiny.params, epochs=6, min_steps=0, batch_size=8,
                learning_rate=tiny.lr,
                lr_scheduler="constant", warmup_ratio=0.0, precision="fp32", threads=1, log_every=1,
                system_prompt="")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("name", method_names())
def test_every_method_gives_its_test_settings_and_count(name):
    method = get_method(name)
    assert method.test_settings is not None, f"{method.module.__name__} has no TEST_SETTINGS"
    assert method.trainable_count is not None, f"{method.module.__name__} has no trainable_count(model, params)"


@pytest.mark.parametrize("name", method_names())
def test_method_contract(name, tiny_model, facts_file, tmp_path):
    method = get_method(name)
    cfg = make_cfg(tiny_model, name)
    params = method.parse_params(cfg.params)
    load_extra = method.load_kwargs(params) if method.load_kwargs else {}
    loaded = load_model(str(tiny_model), **load_extra)
    samples = build_samples(load_facts([facts_file]), augment=False).train  # the facts as asked, no more
    batch = fixed_batch(loaded.tokenizer, samples)
    original = {n: t.clone() for n, t in base_state(loaded.model).items()}
    plain = load_model(str(tiny_model)).model.eval()
    n_base = sum(p.numel() for p in plain.parameters())
    base_logits = logits(plain, batch)
    want = method.trainable_count(plain, params)

    loaded, method, params = load_for_training(cfg, loaded)
    model = loaded.model
    # the count: independent formula, and peft's own report (or requires_grad for plain models)
    trainable, total = count_parameters(model)
    adds = want if method.frozen_base else 0  # a frozen base trains new tensors only; the others train its own
    assert (trainable, total) == (want, n_base + adds)
    if hasattr(model, "get_nb_trainable_parameters"):
        assert (trainable, total) == model.get_nb_trainable_parameters()
    else:
        assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    loss_before = fixed_loss(model, method, batch)

    model, stats = run_training(model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    # the loss on the whole (fixed) training batch falls; a random tiny model's outputs barely
    # depend on their inputs, so virtual-token methods gain least (about 0.3%): ask for 0.1%
    loss_after = fixed_loss(model, method, batch)
    assert math.isfinite(loss_after) and loss_after < loss_before * 0.999, (loss_before, loss_after)
    # every trained tensor moved, every other tensor of the base is bit-identical
    now = dict(model.named_parameters())
    assert {n for n, p in now.items() if p.requires_grad} == set(start)
    unchanged = [n for n in start if torch.equal(now[n].detach(), start[n])]
    assert not unchanged, f"trainable but untrained: {unchanged[:5]}"
    trained_base = trainable_base_names(model)
    after = base_state(model)
    assert set(original) <= set(after)
    moved = [n for n in original if n not in trained_base and not torch.equal(after[n], original[n])]
    assert not moved, f"frozen tensors changed: {moved[:5]}"

    # save -> load onto a freshly loaded base: the same logits
    model.eval()
    adapter = save_trained(model, method, params, tmp_path / "adapter", base_model=str(tiny_model))
    fresh = load_model(str(tiny_model), **load_extra).model
    reloaded = attach_trained(fresh, adapter, read_meta(adapter)).eval()
    expected = logits(model, batch)
    got = logits(reloaded, batch)
    # exact even for prefix/ptuning, whose saved adapter holds the virtual tokens as computed
    # at save time rather than the encoder that produced them
    assert torch.equal(got, expected)

    if not method.mergeable:
        with pytest.raises(KnowtuneError, match="serve it with its adapter"):
            merge_trained(reloaded, method)
        return
    exact = name != "qlora"  # 4-bit weights cannot be held in float64
    if exact:
        # merged and unmerged in float64: W + (alpha/r)·B·A summed once instead of per forward
        # then differs by rounding far below 1e-9, so only a wrong merge can fail (in fp32 the
        # rounding alone reached 1e-4 on these logits, depending on the trained weights)
        reloaded = reloaded.double()
        got = logits(reloaded, batch)
    merged = merge_trained(reloaded, method)
    assert type(merged).__module__.startswith("transformers.models.")
    assert not getattr(merged, "is_quantized", False)
    assert not [m for m in merged.modules() if type(m).__module__.startswith(("peft", "bitsandbytes"))]
    # qlora: the adapter model dequantizes each 4-bit weight to fp32 before its matmul, and the
    # merge adds the update to exactly those dequantized weights: fp32 rounding only. Training
    # moved the logits by far more than either tolerance, so the comparison can tell a wrong merge.
    tolerance = 1e-9 if exact else 1e-4
    torch.testing.assert_close(logits(merged, batch), got, rtol=tolerance, atol=tolerance)
    assert (got - base_logits).abs().max() > 1e-2


@pytest.mark.parametrize("name", method_names())
def test_trains_in_bf16(name, tiny_qwen, facts_file):
    cfg = make_cfg(tiny_qwen, name, precision="bf16", epochs=1)
    loaded, method, params = load_for_training(cfg)
    start = {n: p.detach().clone() for n, p in loaded.model.named_parameters() if p.requires_grad}
    samples = build_samples(load_facts([facts_file]), augment=False).train  # the facts as asked, no more
    model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    assert stats.precision == "bf16" and stats.steps >= 3
    assert all(math.isfinite(loss) for _, loss in stats.losses)
    now = dict(model.named_parameters())
    assert any(not torch.equal(now[n].detach(), t) for n, t in start.items())


@pytest.mark.parametrize("name, params", [
    ("prefix", {"num_virtual_tokens": 4, "prefix_projection": True, "encoder_hidden_size": 16}),
    ("ptuning", {"num_virtual_tokens": 4, "encoder": "lstm", "encoder_hidden_size": 16}),
    ("ptuning", {"num_virtual_tokens": 3, "encoder": "mlp", "encoder_hidden_size": 8}),
])
def test_trainable_count_of_other_variants_matches_peft(name, params, tiny_model):
    """The variants the contract test does not train: the formula against peft's own count."""
    method = get_method(name)
    parsed = method.parse_params(params)
    plain = load_model(str(tiny_model)).model
    want = method.trainable_count(plain, parsed)
    trainable, _total = method.apply(plain, parsed).get_nb_trainable_parameters()
    assert trainable == want


@pytest.mark.parametrize("name", method_names())
def test_dpo_stage_with_every_method(name, tiny_qwen, facts_file):
    """Every method trains the dpo stage: the chosen reply gains on the rejected one (no method is refused)."""
    from knowtune.train.preference import collate_pairs, encode_pairs, sequence_logps

    samples = build_samples(load_facts([facts_file]), augment=False).train[:8]
    replies = [s["messages"][-1]["content"] for s in samples]
    # each pair's rejected reply: the next other answer (a wrong answer to this question)
    pairs = [dict(s, rejected=next(r for r in replies[i + 1:] + replies[:i] if r != replies[i]))
             for i, s in enumerate(samples)]
    # a tenth of the method's rate, as the stage's recipe takes it (train.recipe); all pairs in one batch
    cfg = make_cfg(tiny_qwen, name, stage="dpo", beta=0.5, epochs=12, batch_size=8,
                   learning_rate=get_method(name).test_settings.lr / 10)
    loaded, method, params = load_for_training(cfg)
    batch = collate_pairs(encode_pairs(loaded.tokenizer, pairs, 256, "", "dpo"), loaded.tokenizer.pad_token_id)
    batch.pop("ref_logps")

    @torch.no_grad()
    def margin(model):
        was_training = model.training
        model.eval()
        logps, _ = sequence_logps(model, **batch, fast=not method.uses_model_forward)
        model.train(was_training)
        return float((logps[:len(pairs)] - logps[len(pairs):]).mean())

    before = margin(loaded.model)
    model, stats = run_training(loaded.model, loaded.tokenizer, pairs, cfg, method, params, quiet=True)
    assert all(math.isfinite(loss) for _, loss in stats.losses)
    assert margin(model) > before, name
