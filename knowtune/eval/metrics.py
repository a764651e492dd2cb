"""Overlap metrics of a reply against its references: exact match, token F1, ROUGE-1/2/L, BLEU-4.

Text is folded first (normalize.fold: case, width, punctuation, thousands separators), then
cut into words: on spaces for English, with jieba for text holding Chinese characters
(jieba keeps Latin words and numbers whole, so mixed text works too). Every metric is a
fraction in [0, 1]. A reply is scored against several references (the gold sentence and
each accepted answer); per-reply metrics take the best reference, BLEU-4 is the corpus
BLEU of Papineni et al. (clipped n-gram precisions over all replies, multi-reference,
brevity penalty against the closest reference length, no smoothing).

`wilson_interval` gives the uncertainty of an accuracy measured on a few hundred questions.
"""

from __future__ import annotations

import math
from collections import Counter

from ..data.text import CJK, jieba_words
from .normalize import fold


def words(text: str) -> list[str]:
    folded = fold(text)
    if not CJK.search(folded):
        return folded.split()
    return jieba_words(folded)


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, predicted: int, reference: int) -> float:
    """Nothing shared scores 0, also when both sides are empty: an empty reply (or a text too
    short to hold one n-gram) never matches."""
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def exact_match(reply: list[str], reference: list[str]) -> float:
    return float(bool(reply) and reply == reference)


def token_f1(reply: list[str], reference: list[str]) -> float:
    """SQuAD-style F1 of the bags of words."""
    overlap = sum((Counter(reply) & Counter(reference)).values())
    return _f1(overlap, len(reply), len(reference))


def rouge_n(reply: list[str], reference: list[str], n: int) -> float:
    """ROUGE-N F-measure: clipped n-gram overlap against both n-gram totals."""
    got, want = ngrams(reply, n), ngrams(reference, n)
    return _f1(sum((got & want).values()), sum(got.values()), sum(want.values()))


def lcs_length(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(reply: list[str], reference: list[str]) -> float:
    """ROUGE-L F-measure: longest common subsequence against both lengths."""
    return _f1(lcs_length(reply, reference), len(reply), len(reference))


PER_REPLY = {"exact_match": exact_match, "f1": token_f1, "rouge1": lambda r, g: rouge_n(r, g, 1),
             "rouge2": lambda r, g: rouge_n(r, g, 2), "rougeL": rouge_l}


def reply_scores(reply: str, references: list[str]) -> dict[str, float]:
    """Each per-reply metric against its best reference."""
    got = words(reply)
    refs = [words(r) for r in references]
    return {name: max(metric(got, ref) for ref in refs) for name, metric in PER_REPLY.items()}


def corpus_bleu(replies: list[str], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU-max_n of the replies, each against its own references."""
    matched, total = [0] * max_n, [0] * max_n
    reply_len = ref_len = 0
    for reply, refs in zip(replies, references):
        got = words(reply)
        ref_tokens = [words(r) for r in refs]
        reply_len += len(got)
        ref_len += min((len(r) for r in ref_tokens), key=lambda n: (abs(n - len(got)), n))
        for n in range(1, max_n + 1):
            counts = ngrams(got, n)
            best: Counter = Counter()
            for ref in ref_tokens:
                best |= ngrams(ref, n)  # clip each n-gram by its largest count in any one reference
            matched[n - 1] += sum((counts & best).values())
            total[n - 1] += sum(counts.values())
    if reply_len == 0 or 0 in matched:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    brevity = 1.0 if reply_len > ref_len else math.exp(1 - ref_len / reply_len)
    return brevity * math.exp(log_precision)


def overlap_summary(replies: list[str], references: list[list[str]]) -> dict[str, float]:
    """Mean per-reply metrics and corpus BLEU-4 of a set of replies."""
    if not replies:
        return {name: 0.0 for name in [*PER_REPLY, "bleu4"]}
    scores = [reply_scores(r, refs) for r, refs in zip(replies, references)]
    means = {name: sum(s[name] for s in scores) / len(scores) for name in PER_REPLY}
    return {**means, "bleu4": corpus_bleu(replies, references)}


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96). Unlike the normal
    approximation it stays inside [0, 1] and is not empty at 0 or `total` correct, which
    matters for small probes and near-perfect scores. No questions: nothing is known, (0, 1)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
