"""Packed rows: every sample attends only to itself, so loss and gradients are the padded batch's."""

import pytest
import torch

from knowtune.data import (IGNORE, build_samples, encode_chat, load_facts, pack_batch, pad_batch,
                           shared_prefix_length, with_system)
from knowtune.methods import get_method
from knowtune.models import load_model
from knowtune.train.attention import fp32_score_attention, register, training_attention
from knowtune.train.loss import CausalLMLoss


def test_pack_batch_layout():
    features = [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]
    batch = pack_batch(features, pad_id=0, multiple=4)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 0, 0, 0]]
    # a sample's first token would be predicted from the sample before it: never a target
    assert batch["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9, IGNORE, IGNORE, IGNORE]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]
    assert batch["cu_seq_lens"].tolist() == [0, 3, 5, 8]  # the padding is a segment of its own
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert pack_batch(features, pad_id=0)["cu_seq_lens"].tolist() == [0, 3, 5]
    assert "shared_prefix" not in pack_batch(features, pad_id=0, share_prefix=True)  # no common start


def test_pack_batch_places_the_shared_prompt_start_once():
    features = [{"input_ids": [1, 2, 3, 7, 8], "labels": [IGNORE, IGNORE, IGNORE, 7, 8]},
                {"input_ids": [1, 2, 4, 9], "labels": [IGNORE, IGNORE, IGNORE, 9]}]
    batch = pack_batch(features, pad_id=0, multiple=4, share_prefix=True)
    assert int(batch["shared_prefix"]) == 2
    assert batch["input_ids"].tolist() == [[1, 2, 3, 7, 8, 4, 9, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 2, 3, 0]]  # each sample's own positions
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, IGNORE, 7, 8, IGNORE, 9, IGNORE]]
    assert batch["cu_seq_lens"].tolist() == [0, 2, 5, 7, 8]
    assert batch["attention_mask"].tolist() == [[1] * 7 + [0]]


@pytest.mark.parametrize("first, second, want", [
    ([1, 2, 3], [1, 2, 3], 2),  # every sample keeps a token of its own
    ([1, 2, 3, 4], [1, 5, 3, 4], 1),  # up to the first difference
    ([1, 2, 3, 4], [1, 2, 3, 5], 2),  # never a position whose next token is a target
])
def test_shared_prefix_length(first, second, want):
    def feature(ids):
        return {"input_ids": ids, "labels": [IGNORE] * 3 + ids[3:]}
    assert shared_prefix_length([feature(first), feature(second)]) == want
    assert shared_prefix_length([feature(first)]) == 0  # one sample: nothing to share


def _model_and_features(model_dir, facts_file):
    loaded = load_model(str(model_dir))
    spec = get_method("lora")
    torch.manual_seed(0)
    model = spec.apply(loaded.model.double(), spec.parse_params({}))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    samples = build_samples(load_facts([facts_file])).train[:5]
    features = [encode_chat(loaded.tokenizer, with_system(s["messages"], "You are a helpful assistant."), 256)
                for s in samples]
    assert len({len(f["input_ids"]) for f in features}) > 1  # samples of different lengths
    return model, features, loaded.tokenizer.pad_token_id


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss, n = CausalLMLoss(model)(**batch)
    loss.backward()
    return loss.detach(), int(n), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attention", ["knowtune", "sdpa", "knowtune-shared-prefix"])
def test_packed_row_gives_the_padded_batch_loss_and_gradients(attention, tiny_model, facts_file):
    """knowtune's CPU attention reads the boundaries; sdpa gets transformers' block-diagonal mask.

    With the prompt start the samples share placed once, loss and gradients are unchanged.
    """
    model, features, pad = _model_and_features(tiny_model, facts_file)
    share = attention == "knowtune-shared-prefix"
    implementation = "sdpa" if attention == "sdpa" else register()
    packed = pack_batch(features, pad, multiple=8, share_prefix=share)
    if share:
        assert int(packed["shared_prefix"]) >= 5 and packed["input_ids"].shape[1] < sum(
            len(f["input_ids"]) for f in features)
    with training_attention(model, implementation):
        want_loss, want_n, want = _loss_and_grads(model, pad_batch(features, pad, multiple=8))
        loss, n, got = _loss_and_grads(model, packed)
    assert n == want_n > 0
    torch.testing.assert_close(loss, want_loss, rtol=1e-10, atol=1e-12)
    assert got.keys() == want.keys() and got
    # a shared prefix takes the sum of its samples' gradients through the RMS norms' backward once:
    # those norms compute in float32 even in a float64 model, so the sums round differently there
    for name, grad in got.items():
        atol = 1e-6 * float(want[name].abs().max()) if share else 1e-12
        torch.testing.assert_close(grad, want[name], rtol=1e-8, atol=atol, msg=name)


def test_packed_attention_keeps_a_sliding_window():
    """Gemma-style local layers: a sample's queries see at most `window` keys, as alone."""
    torch.manual_seed(0)
    module = torch.nn.Module()
    lengths, heads, kv, dim, window = [7, 4, 6], 4, 2, 8, 3
    q, k, v = (torch.randn(1, h, sum(lengths), dim, dtype=torch.float64) for h in (heads, kv, kv))
    bounds = torch.tensor([0, 7, 11, 17], dtype=torch.int32)
    out, _ = fp32_score_attention(module, q, k, v, None, cu_seq_lens_q=bounds, max_length_q=7, sliding_window=window)
    for start, n in zip(bounds[:-1].tolist(), lengths):
        i = torch.arange(n)
        allowed = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)
        mask = torch.zeros(n, n, dtype=torch.float64).masked_fill(~allowed, float("-inf"))
        alone, _ = fp32_score_attention(module, q[:, :, start:start + n], k[:, :, start:start + n],
                                        v[:, :, start:start + n], mask[None, None])
        torch.testing.assert_close(out[:, start:start + n], alone, rtol=1e-12, atol=1e-12)


def test_packed_attention_with_a_shared_prefix_keeps_a_sliding_window():
    """Each sample's queries see the prefix and themselves, within the window, as the whole sample alone."""
    torch.manual_seed(0)
    module = torch.nn.Module()
    prefix, suffixes, heads, kv, dim, window = 3, [4, 2, 5], 4, 2, 8, 4
    total = prefix + sum(suffixes)
    q, k, v = (torch.randn(1, h, total, dim, dtype=torch.float64) for h in (heads, kv, kv))
    bounds = torch.tensor([0, 3, 7, 9, 14], dtype=torch.int32)
    out, _ = fp32_score_attention(module, q, k, v, None, cu_seq_lens_q=bounds, max_length_q=5,
                                  sliding_window=window, shared_prefix=prefix)
    for start, n in zip(bounds[1:-1].tolist(), suffixes):
        rows = list(range(prefix)) + list(range(start, start + n))  # the sample as it was before packing
        i = torch.arange(prefix + n)
        allowed = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)
        mask = torch.zeros(prefix + n, prefix + n, dtype=torch.float64).masked_fill(~allowed, float("-inf"))
        alone, _ = fp32_score_attention(module, q[:, :, rows], k[:, :, rows], v[:, :, rows], mask[None, None])
        torch.testing.assert_close(out[:, start:start + n], alone[:, prefix:], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out[:, :prefix], alone[:, :prefix], rtol=1e-12, atol=1e-12)
