"""The training loss: summed cross-entropy over answer tokens only.

Fast path: run the decoder, then the output head only at positions that carry a label
(prompt tokens are masked anyway), vocabulary chunk by chunk (linear_ce.py), so the
[tokens x vocab] logits are never materialised in float32. Under a sharding engine
(ZeRO-3, FSDP) the head's weight exists whole only inside the head's own forward: there
the head is called on checkpointed chunks of tokens instead. Methods that add virtual
tokens (prefix/prompt tuning) need their wrapper's forward and take the plain path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..data import IGNORE
from ..methods.layers import base_model
from .attention import packing_plan
from .linear_ce import capped, linear_cross_entropy_sum

ROW_MULTIPLE = 32  # answer rows padded up to a multiple: fewer distinct matmul shapes (see speed.py)
CHUNK_ELEMENTS = 32 * 1024 * 1024  # logits elements per chunk of the head


def _head_ce_sum(head, hidden, targets, softcap, weights=None):
    return _ce_sum(capped(head(hidden).float(), softcap), targets, weights)


def _ce_sum(logits, targets, weights=None):
    """Summed cross-entropy to hard targets [rows], or to k weighted targets [rows, k] (rows whose
    first target is IGNORE left out)."""
    if weights is None:
        return F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")
    valid = targets[:, 0] != IGNORE
    log_probs = torch.log_softmax(logits[valid], dim=-1)
    return -(log_probs.gather(1, targets[valid]) * weights[valid]).sum()


def _attention_inputs(attention_mask, position_ids, cu_seq_lens, shared_prefix) -> dict:
    """The decoder's arguments for a padded batch, or for a packed row.

    A packed row goes without attention_mask: transformers then reads the sample boundaries
    from the restarting position_ids (a block-diagonal mask, for sdpa and eager), and passes the
    flash-attention varlen arguments on to the attention function (train/attention.py uses them).
    A row whose samples share their prompt's start (data.pack_batch) needs train/attention.py:
    no other attention reads `packing`, the plan that holds the shared prefix.
    """
    if cu_seq_lens is None:
        return {"attention_mask": attention_mask}
    longest = int((cu_seq_lens[1:] - cu_seq_lens[:-1]).max())
    prefix = int(shared_prefix) if shared_prefix is not None else 0
    # the gather indices of train/attention.py, made once here rather than in every layer
    return {"position_ids": position_ids, "cu_seq_lens_q": cu_seq_lens, "cu_seq_lens_k": cu_seq_lens,
            "max_length_q": longest, "max_length_k": longest, "packing": packing_plan(cu_seq_lens, longest, prefix)}


class CausalLMLoss(torch.nn.Module):
    """Wraps the model so data-parallel engines see one forward that returns (loss sum, tokens)."""

    def __init__(self, model, *, fast: bool = True, sharded: bool = False):
        super().__init__()
        self.model = model
        self.fast = fast
        self.sharded = sharded

    def forward(self, input_ids, attention_mask, labels, position_ids=None, cu_seq_lens=None, shared_prefix=None,
                soft_ids=None, soft_weights=None):
        """A packed row (data.pack_batch) brings position_ids, cu_seq_lens and maybe shared_prefix; fast path only.
        soft_ids / soft_weights: a distribution to learn at each answer token instead of its label
        (data.collate.soft_targets)."""
        targets = labels[:, 1:]
        mask = targets != IGNORE
        n_tokens = mask.sum()
        if not self.fast:
            if cu_seq_lens is not None:
                raise ValueError("packed rows need the fast path (the model's own forward adds virtual tokens)")
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            logits = logits[:, -targets.shape[1] - 1:-1].float()  # virtual tokens are prepended
            wanted = targets[mask] if soft_ids is None else soft_ids
            return _ce_sum(logits[mask], wanted, soft_weights), n_tokens
        base = base_model(self.model)
        hidden = base.get_decoder()(input_ids=input_ids, use_cache=False,
                                    **_attention_inputs(attention_mask, position_ids, cu_seq_lens,
                                                                        shared_prefix)).last_hidden_state
        hidden = hidden[:, :-1][mask]
        wanted, weights = (targets[mask], None) if soft_ids is None else (soft_ids, soft_weights)
        extra = -hidden.shape[0] % ROW_MULTIPLE  # padded rows are zeros with an ignored target
        hidden = torch.cat([hidden, hidden.new_zeros(extra, hidden.shape[1])])
        wanted = torch.cat([wanted, wanted.new_full((extra, *wanted.shape[1:]), IGNORE)])
        if weights is not None:
            weights = torch.cat([weights, weights.new_zeros(extra, weights.shape[1])])
        head = base.get_output_embeddings()
        softcap = getattr(base.config, "final_logit_softcapping", None)
        if not self.sharded and isinstance(head, torch.nn.Linear) and head.bias is None:
            return linear_cross_entropy_sum(hidden, head.weight, wanted, ignore_index=IGNORE,
                                            softcap=softcap, weights=weights), n_tokens
        rows = max(1, CHUNK_ELEMENTS // head.weight.shape[0])
        if hidden.shape[0] <= rows:
            return _head_ce_sum(head, hidden, wanted, softcap, weights), n_tokens
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], rows):
            chunk = slice(start, start + rows)
            total = total + checkpoint(_head_ce_sum, head, hidden[chunk], wanted[chunk], softcap,
                                       None if weights is None else weights[chunk], use_reentrant=False)
        return total, n_tokens
