"""The training loop on tiny random models: loss falls, peft format, determinism, masking."""

import json
import math

import torch

from knowtune.config import TrainConfig
from knowtune.data import build_samples, encode_chat, load_facts
from knowtune.models import load_model
from knowtune.train import load_for_training, run_training, train_run


def tiny_cfg(model_dir, **kw):
    # lr 3e-2 suits a 2-layer random model with plain LoRA; LoRA+ (the default ratio 16) would push B 16x harder
    base = dict(model=str(model_dir), epochs=10, min_steps=0, learning_rate=3e-2, batch_size=4, precision="fp32",
                log_every=1, params={"r": 8, "alpha": 16, "loraplus_lr_ratio": 0})
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls_and_only_lora_changes(tiny_model, facts_file):
    samples = build_samples(load_facts([facts_file])).train
    cfg = tiny_cfg(tiny_model)
    loaded, method, params = load_for_training(cfg)
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    losses = [loss for _, loss in stats.losses]
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and all("lora_" in n for n in changed)
    # every step logged (log_every=1); 10 epochs of ceil(n/4) batches, each sample's tokens once an epoch
    steps = cfg.epochs * math.ceil(len(samples) / cfg.batch_size)
    assert stats.steps == steps and [step for step, _ in stats.losses] == list(range(1, steps + 1))
    system = [{"role": "system", "content": cfg.system_prompt}]
    per_epoch = sum(len(encode_chat(loaded.tokenizer, system + s["messages"], cfg.max_len)["input_ids"])
                    for s in samples)
    assert per_epoch > 0 and stats.tokens == cfg.epochs * per_epoch


def test_fast_loss_equals_full_logits_loss(tiny_qwen, facts_file):
    from knowtune.data import encode_chat, pad_batch
    from knowtune.train.loss import CausalLMLoss

    samples = build_samples(load_facts([facts_file]), augment=False).train[:6]  # short samples: float32 sums stay tight
    loaded = load_model(str(tiny_qwen))
    batch = pad_batch([encode_chat(loaded.tokenizer, s["messages"], 256) for s in samples],
                      loaded.tokenizer.pad_token_id)
    fast, n_fast = CausalLMLoss(loaded.model, fast=True)(**batch)
    plain, n_plain = CausalLMLoss(loaded.model, fast=False)(**batch)
    assert n_fast == n_plain > 0
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    # under a sharding engine the head is called as a module, on checkpointed chunks of tokens
    import knowtune.train.loss as loss_mod

    old = loss_mod.CHUNK_ELEMENTS
    try:
        loss_mod.CHUNK_ELEMENTS = loaded.model.config.vocab_size * 3
        chunked, _ = CausalLMLoss(loaded.model, fast=True, sharded=True)(**batch)
    finally:
        loss_mod.CHUNK_ELEMENTS = old
    torch.testing.assert_close(chunked, fast, rtol=1e-5, atol=1e-5)
    # and all three give the same gradient
    grads = []
    for wrapper in (CausalLMLoss(loaded.model, fast=True), CausalLMLoss(loaded.model, fast=False),
                    CausalLMLoss(loaded.model, fast=True, sharded=True)):
        loaded.model.zero_grad()
        wrapper(**batch)[0].backward()
        grads.append(torch.cat([p.grad.flatten() for p in loaded.model.parameters()]))
    for other in grads[1:]:
        torch.testing.assert_close(grads[0], other, rtol=1e-4, atol=1e-6)


def test_run_dir_loads_with_stock_peft_and_same_seed_same_bytes(tiny_qwen, facts_file, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = tiny_cfg(tiny_qwen, epochs=2)
    first = train_run(cfg, str(facts_file), tmp_path / "a", quiet=True)
    second = train_run(tiny_cfg(tiny_qwen, epochs=2), str(facts_file), tmp_path / "b", quiet=True)
    adapter = tmp_path / "a" / "adapter"
    for name in ("config.yaml", "run.json", "loss.png", "heldout.jsonl", "knowledge.jsonl"):
        assert (tmp_path / "a" / name).is_file(), name
    assert (adapter / "adapter_model.safetensors").read_bytes() == \
        (tmp_path / "b" / "adapter" / "adapter_model.safetensors").read_bytes()
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    stock = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.tensor([[1, 5, 9, 20, 33]])
    with torch.no_grad():
        expected = first.loaded.model(input_ids=ids).logits
        got = stock(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert info["train"]["steps"] == first.stats.steps and "trainable params:" in info["trainable"]
    assert second.stats.final_loss == first.stats.final_loss


def test_grad_accumulation_normalised_by_tokens(tiny_qwen, facts_file):
    """batch 4 x accum 1 and batch 2 x accum 2 give the same update (same tokens, same weighting)."""
    samples = build_samples(load_facts([facts_file])).train[:4]

    def one_step(batch_size, accum):
        cfg = tiny_cfg(tiny_qwen, epochs=1, batch_size=batch_size, grad_accum=accum, learning_rate=1e-2,
                       warmup_ratio=0.0, lr_scheduler="constant", max_grad_norm=0.0)
        loaded, method, params = load_for_training(cfg)
        # one global batch of all 4 samples, in the same order for both settings
        from knowtune.train import loop

        original = loop.length_grouped_batches
        loop.length_grouped_batches = lambda lengths, size, seed: [list(range(len(lengths)))[i:i + size]
                                                                   for i in range(0, len(lengths), size)]
        try:
            model, _ = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
        finally:
            loop.length_grouped_batches = original
        return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    a, b = one_step(4, 1), one_step(2, 2)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6)


def test_warmup_steps_round_up_like_the_trainer():
    from knowtune.train.loop import warmup_steps

    assert warmup_steps(0.05, 50) == 3  # 2.5: the Trainer's 3, not 2
    assert warmup_steps(0.05, 60) == 3  # 3.0000000000000004 in floating point is still 3 steps
    assert warmup_steps(0.05, 10) == 1
    assert warmup_steps(0.0, 100) == 0
