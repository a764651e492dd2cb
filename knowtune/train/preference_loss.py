"""The preference losses (DPO, ORPO, KTO) on the log-probabilities of each pair's replies.

Written here, a few lines each, rather than called from TRL: TRL 1.x computes them inline in its
trainers' `_compute_loss` (DPO, KTO) or in a trainer method (ORPO's `odds_ratio_loss`), none of
them callable without a TRL Trainer and its training loop. tests/test_preference.py holds each
one equal to TRL's own computation on the same log-probabilities.

Every function returns one loss per pair (summed by the caller, divided by the step's pairs).
Log-probabilities are sums over the reply's tokens, as TRL sums them; ORPO's are averages per
token, as ORPO's paper and TRL take them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta: float):
    """-log σ(β·[(log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l))]): DPO's sigmoid loss."""
    margin = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -F.logsigmoid(beta * margin)


def log1mexp(x):
    """log(1 - exp(x)) for x < 0, without the cancellation either form has on its own side of -ln 2."""
    return torch.where(x < -LN2, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def orpo_loss(chosen_mean, rejected_mean, beta: float):
    """-log P(y_w) per token - β·log σ(log odds(y_w) - log odds(y_l)); log-probs are per-token means.

    The first term is the chosen reply's cross-entropy: ORPO learns the answer and the preference
    in one stage, with no reference model.
    """
    chosen_mean, rejected_mean = chosen_mean.float(), rejected_mean.float()
    log_odds = (chosen_mean - rejected_mean) - (log1mexp(chosen_mean) - log1mexp(rejected_mean))
    return -chosen_mean - beta * F.logsigmoid(log_odds)


def kto_loss(chosen, rejected, ref_chosen, ref_rejected, kl, beta: float):
    """KTO (eq. 7 of its paper), each pair's chosen reply desirable and its rejected one undesirable.

    `kl` is the reference point: the policy's KL from the reference on mismatched prompt and
    reply, estimated on the batch and not differentiated, as TRL takes it. The pair's loss is the
    sum of its two replies' losses (TRL averages over replies: half of this, per pair).
    """
    kl = kl.detach().clamp(min=0)
    desirable = 1 - torch.sigmoid(beta * ((chosen - ref_chosen) - kl))
    undesirable = 1 - torch.sigmoid(beta * (kl - (rejected - ref_rejected)))
    return desirable + undesirable
