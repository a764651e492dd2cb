"""The chunked head cross-entropy equals torch's, in value and in both gradients."""

import pytest
import torch
import torch.nn.functional as F

import knowtune.train.linear_ce as linear_ce
from knowtune.train.linear_ce import linear_cross_entropy_sum


def reference(hidden, weight, targets, softcap):
    logits = hidden @ weight.t()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")


@pytest.mark.parametrize("softcap", [None, 5.0])
@pytest.mark.parametrize("keep", [True, False])  # logits kept for the backward, or recomputed
def test_value_and_gradients_match_cross_entropy(softcap, keep, monkeypatch):
    torch.manual_seed(0)
    n, h, vocab = 13, 24, 1000
    monkeypatch.setattr(linear_ce, "CHUNK_ELEMENTS", n * 96)  # 11 chunks, the last one short
    monkeypatch.setattr(linear_ce, "KEEP_ELEMENTS", n * vocab if keep else 0)
    hidden = torch.randn(n, h, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(vocab, h, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, vocab, (n,))
    targets[[2, 7]] = -100
    targets[3] = vocab - 1  # in the short last chunk
    got = linear_cross_entropy_sum(hidden, weight, targets, softcap=softcap)
    grad_h, grad_w = torch.autograd.grad(got * 0.5, (hidden, weight))
    want = reference(hidden, weight, targets, softcap)
    want_h, want_w = torch.autograd.grad(want * 0.5, (hidden, weight))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_h, want_h, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_w, want_w, rtol=1e-10, atol=1e-12)


def test_bf16_autocast_matches_the_unfused_head():
    torch.manual_seed(1)
    hidden = torch.randn(40, 64, requires_grad=True)
    weight = torch.randn(5000, 64) * 0.05  # frozen, as in every adapter run
    targets = torch.randint(0, 5000, (40,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy_sum(hidden, weight, targets)
        want = F.cross_entropy(F.linear(hidden, weight).float(), targets, reduction="sum")
    (grad,) = torch.autograd.grad(got, hidden)
    (want_grad,) = torch.autograd.grad(want, hidden)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(grad, want_grad, rtol=2e-2, atol=2e-3)  # both round the softmax to bf16
