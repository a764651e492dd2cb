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


def soft_reference(hidden, weight, ids, weights, softcap):
    """Cross-entropy to a distribution over k tokens per row, with torch's probability targets."""
    logits = hidden @ weight.t()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    dense = torch.zeros_like(logits).scatter_add_(1, ids, weights.to(logits.dtype))
    return F.cross_entropy(logits, dense, reduction="sum")


@pytest.mark.parametrize("softcap", [None, 5.0])
@pytest.mark.parametrize("keep", [True, False])
def test_k_weighted_targets_match_cross_entropy_to_the_distribution(softcap, keep, monkeypatch):
    """Rows with k targets (a teacher's top-k probabilities) straddling chunks, one target repeated."""
    torch.manual_seed(2)
    n, h, vocab, k = 11, 16, 700, 4
    monkeypatch.setattr(linear_ce, "CHUNK_ELEMENTS", n * 64)
    monkeypatch.setattr(linear_ce, "KEEP_ELEMENTS", n * vocab if keep else 0)
    hidden = torch.randn(n, h, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(vocab, h, dtype=torch.float64, requires_grad=True)
    ids = torch.randint(0, vocab, (n, k))
    ids[0] = torch.tensor([0, 63, 64, vocab - 1])  # chunk edges
    ids[1, 1] = ids[1, 0]  # the same token twice: its weights add up
    weights = torch.rand(n, k, dtype=torch.float64)
    weights /= weights.sum(dim=1, keepdim=True)
    ids[5, 0] = -100  # an ignored row
    got = linear_cross_entropy_sum(hidden, weight, ids, softcap=softcap, weights=weights)
    grad_h, grad_w = torch.autograd.grad(got, (hidden, weight))
    keep_rows = torch.arange(n) != 5
    want = soft_reference(hidden[keep_rows], weight, ids[keep_rows], weights[keep_rows], softcap)
    want_h, want_w = torch.autograd.grad(want, (hidden, weight))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_h, want_h, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_w, want_w, rtol=1e-10, atol=1e-12)


def test_one_target_of_weight_one_is_the_hard_label():
    torch.manual_seed(3)
    hidden = torch.randn(9, 8, dtype=torch.float64)
    weight = torch.randn(300, 8, dtype=torch.float64)
    targets = torch.randint(0, 300, (9,))
    hard = linear_cross_entropy_sum(hidden, weight, targets)
    soft = linear_cross_entropy_sum(hidden, weight, targets[:, None], weights=torch.ones(9, 1, dtype=torch.float64))
    torch.testing.assert_close(soft, hard, rtol=1e-14, atol=1e-14)
