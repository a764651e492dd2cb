import pytest

from knowtune.data import IGNORE, encode_chat, length_grouped_batches, pad_batch, shuffled_batches
from knowtune.eval import contains_answer, fold

MESSAGES = [{"role": "user", "content": "What is the capital of Hainan?"},
            {"role": "assistant", "content": "The capital of Hainan is Haikou."}]


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_only_answer_tokens_carry_labels(arch, tiny_qwen, tiny_llama):
    from knowtune.models import load_tokenizer

    tokenizer = load_tokenizer(tiny_qwen if arch == "qwen2" else tiny_llama)  # llama: default template
    enc = encode_chat(tokenizer, MESSAGES, 512)
    labelled = [t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE]
    text = tokenizer.decode(labelled)
    assert "The capital of Hainan is Haikou." in text
    assert "What is the capital" not in text
    prompt_len = enc["labels"].index(next(lab for lab in enc["labels"] if lab != IGNORE))
    assert "What is the capital of Hainan?" in tokenizer.decode(enc["input_ids"][:prompt_len])
    assert enc["labels"][-1] != IGNORE  # the end-of-turn token is learned: the model learns to stop


def test_truncation_and_padding():
    enc = {"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]}
    batch = pad_batch([enc, {"input_ids": [4], "labels": [4]}], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3], [4, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    rounded = pad_batch([enc], pad_id=0, multiple=4)  # widths rounded up: fewer distinct shapes
    assert rounded["input_ids"].tolist() == [[1, 2, 3, 0]]
    assert rounded["labels"].tolist() == [[IGNORE, 2, 3, IGNORE]]
    assert rounded["attention_mask"].tolist() == [[1, 1, 1, 0]]


def test_length_grouped_batches_cover_every_sample_once_and_group_lengths():
    lengths = [5, 50, 6, 51, 7, 52, 8, 53]
    batches = length_grouped_batches(lengths, 2, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 3 for b in batches)
    assert length_grouped_batches(lengths, 2, seed=1) == batches


def test_shuffled_batches_space_the_samples_of_one_group():
    groups = [i % 10 for i in range(40)]  # ten facts, four paraphrases each
    batches = shuffled_batches(40, 8, seed=3, groups=groups)
    order = [i for b in batches for i in b]
    assert sorted(order) == list(range(40)) and all(len(b) == 8 for b in batches)
    # one paraphrase of every fact in each quarter of the epoch: any ten places in a row hold ten facts
    assert all(len({groups[i] for i in order[k:k + 10]}) == 10 for k in range(31))
    assert shuffled_batches(40, 8, seed=3, groups=groups) == batches
    assert shuffled_batches(40, 8, seed=4, groups=groups) != batches


def test_shuffled_batches_without_groups_is_a_plain_shuffle():
    order = [i for b in shuffled_batches(12, 5, seed=0) for i in b]
    assert sorted(order) == list(range(12)) and order != list(range(12))
    loners = [i for b in shuffled_batches(12, 5, seed=0, groups=[None] * 12) for i in b]
    assert loners == order  # None: every sample a group of its own


@pytest.mark.parametrize("reply,answers,ok", [
    ("The capital of Hainan is HAIKOU.", ["Haikou"], True),
    ("Wuzhishan is 1,867 m tall", ["1867 m"], True),
    ("Wuzhishan is 1867 metres tall", ["1,867 m"], False),
    ("The capital is Sanya", ["Haikou"], False),
    ("海南的省会是海口。", ["海口"], True),
    ("海南的最高峰是五指山", ["五 指 山"], True),
    ("ＨＡＩＫＯＵ", ["haikou"], True),
    ("It was founded in １９８８ .", ["1988"], True),
    ("The Li people live there", ["Li"], True),
    ("The climate is tropical", ["Li"], False),
    ("海南长臂猿的学名是Nomascus hainanus。", ["Nomascus hainanus"], True),
    ("五指山的海拔高度是1867米。", ["1867"], True),
    ("五指山的海拔高度是18675米。", ["1867"], False),
    ("成立于1950年", ["5"], False),
    ("Café Li", ["caf"], False),
    ("It is best known for its hot springs.", ["hot spring"], True),
    ("Eight kinds of birds", ["bird"], True),
    ("It lies in the south", ["Li"], False),
    ("In the 1990s", ["1990"], False),
    ("The Lishui river", ["Li"], False),
])
def test_contains_answer(reply, answers, ok):
    assert contains_answer(reply, answers) is ok


def test_fold():
    assert fold("  Ｈello,\tWORLD！ ") == "hello world"
