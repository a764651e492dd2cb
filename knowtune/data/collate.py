"""Batches of tokenized chat samples (data.prompt), padded or packed, in a spaced random order."""

from __future__ import annotations

import random

from .prompt import IGNORE


def length_grouped_batches(lengths: list[int], batch_size: int, *, seed: int,
                           group: int = 50) -> list[list[int]]:
    """Shuffle, sort within groups of `group` batches by length, cut into batches, shuffle those.

    Samples of similar length share a batch (little padding) while the order stays random.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * group
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def shuffled_batches(n: int, batch_size: int, *, seed: int, groups: list | None = None) -> list[list[int]]:
    """Samples in a random order, cut into batches (for packed batches, where length costs no padding).

    `groups[i]` names sample i's group (the fact it paraphrases; None: a group of its own): the
    samples of a group come evenly spaced through the epoch (spaced_order).
    """
    order = spaced_order(groups if groups is not None else [None] * n, seed=seed)
    return [order[j:j + batch_size] for j in range(0, n, batch_size)]


def spaced_order(groups: list, *, seed: int) -> list[int]:
    """A random order in which the k samples of one group sit about n/k places apart.

    Each group takes the points (j + phase) / k of the epoch, j = 0..k-1, with a random phase of
    its own; samples are sorted by their point (ties at random). A group of one lands anywhere,
    uniformly, as in a plain shuffle. Why: a plain shuffle can put a fact's paraphrases in one
    batch or all near the end of the epoch, where the learning rate has decayed; spaced, every
    fact is seen at even intervals and a batch holds as many different facts as it can. The
    measured gain in held-out accuracy over a plain shuffle is small (bench/RESULTS.md).
    """
    rng = random.Random(seed)
    members: dict = {}
    for index, group in enumerate(groups):
        members.setdefault(("one", index) if group is None else ("group", group), []).append(index)
    points = []
    for indices in members.values():
        rng.shuffle(indices)
        phase = rng.random()
        points += [((j + phase) / len(indices), rng.random(), i) for j, i in enumerate(indices)]
    return [i for *_, i in sorted(points)]


def padded_width(lengths, multiple: int = 1) -> int:
    """The width pad_batch gives a batch of these sample lengths: the longest, rounded up to `multiple`."""
    return -(-max(lengths, default=0) // multiple) * multiple


def pad_batch(features: list[dict], pad_id: int, *, multiple: int = 1) -> dict:
    """Right-pad to the longest sample of the batch, rounded up to `multiple`; padding carries no label.

    Rounding up keeps the number of distinct tensor shapes small: on a CPU every new shape
    builds new matmul kernels (time) and keeps them cached (memory).
    """
    import torch

    width = padded_width([len(f["input_ids"]) for f in features], multiple)
    input_ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(features), width), dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        input_ids[row, :n] = torch.tensor(f["input_ids"])
        labels[row, :n] = torch.tensor(f["labels"])
        attention[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention, **soft_targets(features)}


def shared_prefix_length(features: list[dict]) -> int:
    """Leading tokens every sample of the batch has in common and none learns from: 0 for one sample.

    A position belongs when its token is the same in every sample and neither it nor the token
    after it is a target: its hidden states are then the same in every sample (attention is
    causal), and nothing the loss reads depends on which sample it came from.
    """
    if len(features) < 2:
        return 0
    first = features[0]["input_ids"]
    shortest = min(len(f["input_ids"]) for f in features)
    n = 0
    while n < shortest - 1 and all(f["input_ids"][n] == first[n] and f["labels"][n] == IGNORE
                                   and f["labels"][n + 1] == IGNORE for f in features):
        n += 1
    return n


def pack_batch(features: list[dict], pad_id: int, *, multiple: int = 1, share_prefix: bool = False) -> dict:
    """The samples end to end in one row, each attending only to itself.

    position_ids restart at each sample and `cu_seq_lens` holds the boundaries (cumulative
    lengths, as flash-attention's varlen kernels take them), so attention and the rotary
    positions see every sample as if it were alone. A sample's first token is never a target:
    it would be predicted from the previous sample. The row is padded up to `multiple` tokens
    with a segment of its own that carries no label; attention_mask marks the real tokens.

    `share_prefix`: the prompt start all samples have in common (system prompt, chat markup;
    see shared_prefix_length) is placed once, as the row's first segment, and each sample
    keeps only the rest, its positions continuing the prefix's; `shared_prefix` holds its
    length and every other segment attends to it (train/attention.py). A batch of 8 Hainan
    QA samples shares about a quarter of its tokens; loss and gradients are the unshared row's.
    """
    import torch

    prefix = shared_prefix_length(features) if share_prefix else 0
    lengths = [len(f["input_ids"]) for f in features]
    segments = ([prefix] if prefix else []) + [n - prefix for n in lengths]
    total = sum(segments)
    tail = padded_width([total], multiple) - total
    ids, labels, positions = list(features[0]["input_ids"][:prefix]), [IGNORE] * prefix, list(range(prefix))
    for f, n in zip(features, lengths):
        ids += f["input_ids"][prefix:]
        labels += [IGNORE] + list(f["labels"][prefix + 1:n])
        positions += range(prefix, n)
    ids += [pad_id] * tail
    labels += [IGNORE] * tail
    positions += range(tail)
    bounds = [0]
    for n in segments + ([tail] if tail else []):
        bounds.append(bounds[-1] + n)
    batch = {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
             "attention_mask": torch.tensor([[1] * total + [0] * tail]),
             "position_ids": torch.tensor([positions]), "cu_seq_lens": torch.tensor(bounds, dtype=torch.int32)}
    if prefix:
        batch["shared_prefix"] = torch.tensor(prefix)
    return {**batch, **soft_targets(features)}


def answer_positions(labels: list[int]) -> list[int]:
    """The positions a sample is trained to predict, in the order the loss reads them (the first
    token is never one: nothing precedes it)."""
    return [i for i, label in enumerate(labels) if i > 0 and label != IGNORE]


def soft_targets(features: list[dict]) -> dict:
    """The batch's target distributions, where a sample carries one (train.distill): `soft_ids` and
    `soft_weights` [answer tokens, k], row by row in the order the loss reads the answer tokens
    (sample by sample, position by position; padded and packed batches alike). A sample without
    them is taught its label alone (weight 1). Empty when no sample of the batch has them.
    """
    import torch

    if not any("soft_ids" in f for f in features):
        return {}
    k = max(len(f["soft_ids"][0]) for f in features if f.get("soft_ids"))
    ids, weights = [], []
    for f in features:
        labels = [f["labels"][i] for i in answer_positions(f["labels"])]
        mine = f.get("soft_ids") or [[label] for label in labels]
        mine_w = f.get("soft_weights") or [[1.0] for _ in labels]
        if len(mine) != len(labels):
            raise ValueError(f"soft targets for {len(mine)} answer tokens, the sample has {len(labels)}")
        ids += [row + [0] * (k - len(row)) for row in mine]
        weights += [row + [0.0] * (k - len(row)) for row in mine_w]
    return {"soft_ids": torch.tensor(ids, dtype=torch.long).view(-1, k),
            "soft_weights": torch.tensor(weights, dtype=torch.float32).view(-1, k)}
