"""LoRA's update as one addmm: the same loss and gradients as peft's own forward, and put back."""

import pytest
import torch

from knowtune.data import build_samples, encode_chat, load_facts, pad_batch
from knowtune.methods import get_method
from knowtune.models import load_model
from knowtune.train.lora_fast import fused_lora_updates
from knowtune.train.loss import CausalLMLoss


def _adapted(model_dir, method: str, **params):
    loaded = load_model(str(model_dir))
    spec = get_method(method)
    torch.manual_seed(0)
    model = spec.apply(loaded.model.double(), spec.parse_params(params))
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the update something to carry
            torch.nn.init.normal_(p, std=0.1)
    return model, loaded.tokenizer


def _batch(tokenizer, facts_file):
    samples = build_samples(load_facts([facts_file])).train[:6]
    return pad_batch([encode_chat(tokenizer, s["messages"], 256) for s in samples], tokenizer.pad_token_id, multiple=8)


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss, _ = CausalLMLoss(model)(**batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _forward_is_peft(model) -> bool:
    return all("forward" not in vars(m) for m in model.modules())


@pytest.mark.parametrize("method,params", [("lora", {}), ("lora", {"alpha": 8.0, "r": 4}), ("dora", {})])
def test_same_loss_and_gradients_as_peft(method, params, tiny_qwen, facts_file):
    model, tokenizer = _adapted(tiny_qwen, method, **params)
    batch = _batch(tokenizer, facts_file)
    want_loss, want_grads = _loss_and_grads(model, batch)
    with fused_lora_updates(model):
        patched = sum("forward" in vars(m) for m in model.modules())
        loss, grads = _loss_and_grads(model, batch)
    assert patched > 0
    assert _forward_is_peft(model)
    torch.testing.assert_close(loss, want_loss, rtol=1e-10, atol=1e-12)
    assert grads.keys() == want_grads.keys() and any("lora_B" in n for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, want_grads[name], rtol=1e-8, atol=1e-12, msg=name)


def test_layers_peft_must_handle_take_its_forward(tiny_qwen, facts_file):
    """Disabled adapters and merged weights: the fused path steps aside and peft's forward answers."""
    model, tokenizer = _adapted(tiny_qwen, "lora")
    batch = _batch(tokenizer, facts_file)
    with fused_lora_updates(model):
        with model.disable_adapter():
            base_loss, _ = CausalLMLoss(model)(**batch)
        adapted_loss, _ = CausalLMLoss(model)(**batch)
        model.merge_adapter()
        merged_loss, _ = CausalLMLoss(model)(**batch)
        model.unmerge_adapter()
    with model.disable_adapter():
        want_base, _ = CausalLMLoss(model)(**batch)
    torch.testing.assert_close(base_loss, want_base, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(merged_loss, adapted_loss, rtol=1e-9, atol=1e-12)
    assert abs(float((adapted_loss - base_loss).detach())) > 1e-3  # the adapters do change the loss


def test_off_under_a_sharding_engine(tiny_qwen):
    """ZeRO-3/FSDP gather a weight only in its own module's forward: nothing is patched there."""
    model, _ = _adapted(tiny_qwen, "lora")
    with fused_lora_updates(model, enabled=False):
        assert _forward_is_peft(model)
    with fused_lora_updates(model):
        assert not _forward_is_peft(model)
