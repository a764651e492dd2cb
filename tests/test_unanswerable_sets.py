"""The bundled unanswerable questions: enough of them, two kinds, two halves, and none answered
by the knowledge base they are asked about."""

from collections import Counter
from pathlib import Path

import pytest

from knowtune.data import load_facts
from knowtune.data.jsonl import read_jsonl
from knowtune.eval.normalize import contains_answer, fold
from knowtune.eval.sources import default_unanswerable

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
SETS = [(kb, lang) for kb in ("hainan", "fictional") for lang in ("en", "zh")]
KINDS = {"missing_relation", "made_up_subject"}

# Questions that ask an earlier holder of an office the knowledge base names only the present
# holder of (the first editor, the first headteacher): answerable from nowhere, yet they share
# the relation's word, which the relation check below cannot tell apart.
EARLIER_HOLDER = {"Who was the first editor of the Orrenmouth Clarion?",
                  "Who was the first headteacher of Quellwright Grammar School?",
                  "《奥伦口号角报》的第一任主编是谁？", "奎尔赖特文法学校的第一任校长是谁？"}
EN_FILLER = {"of", "the", "a", "an", "in", "for", "and", "to", "by", "it", "its"}


def questions(kb: str, lang: str) -> list[dict]:
    return [row for _, row in read_jsonl(DATA / kb / f"unanswerable_{lang}.jsonl")]


def name(text: str) -> str:
    """A name as compared: folded, without a leading article ("the River Orren" = "River Orren")."""
    folded = fold(text)
    return folded[4:] if folded.startswith("the ") else folded


def facts(kb: str, lang: str):
    return load_facts([DATA / kb / f"facts_{lang}.jsonl"])


def kb_names(kb: str, lang: str) -> set[str]:
    """Every name the knowledge base holds: subjects and their other names, answers and theirs."""
    out = set()
    for f in facts(kb, lang):
        out |= {name(n) for n in [f.subject, *f.subject_aliases, f.answer, *f.aliases]}
    return out


def facts_about(kb: str, lang: str, subject: str) -> list:
    return [f for f in facts(kb, lang) if name(subject) in {name(n) for n in [f.subject, *f.subject_aliases]}]


def gives_away(question: str, told: list[str], own: list[str]) -> bool:
    """The question holds one of `told` (what the knowledge base says about its subject), not
    counting one inside the subject's own names ("Wenchang" in "the Wenchang Space Launch Site")."""
    own_names = " ".join(name(n) for n in own)
    return contains_answer(question, [t for t in told if name(t) not in own_names])


def stem(word: str) -> str:
    return word[:5]  # founder, founded, founding -> found; designer, designed -> desig


def asks_relation(question: str, relation: str, lang: str) -> bool:
    """The question names the fact's relation: all of its words (English, by stem), or the
    relation itself inside the question (Chinese)."""
    if lang == "zh":
        return fold(relation).replace(" ", "") in fold(question).replace(" ", "")
    wanted = {stem(w) for w in fold(relation).split() if w not in EN_FILLER}
    return bool(wanted) and wanted <= {stem(w) for w in fold(question).split()}


@pytest.mark.parametrize("kb,lang", SETS)
def test_each_set_is_large_with_both_kinds_in_both_halves(kb, lang):
    rows = questions(kb, lang)
    assert len(rows) >= 60
    assert all(row["lang"] == lang and row["subject"].strip() for row in rows)
    assert len({fold(row["question"]) for row in rows}) == len(rows)
    assert {row["kind"] for row in rows} == KINDS
    for kind in KINDS:
        splits = Counter(row["split"] for row in rows if row["kind"] == kind)
        assert set(splits) == {"dev", "test"} and abs(splits["dev"] - splits["test"]) <= 1, (kind, splits)


@pytest.mark.parametrize("kb", ["hainan", "fictional"])
def test_english_and_chinese_sets_ask_the_same_questions_in_the_same_order(kb):
    en, zh = questions(kb, "en"), questions(kb, "zh")
    assert [(r["kind"], r["split"]) for r in en] == [(r["kind"], r["split"]) for r in zh]


@pytest.mark.parametrize("kb,lang", SETS)
def test_a_missing_relation_is_asked_of_a_real_subject_and_answered_nowhere(kb, lang):
    """The subject is a name of the knowledge base. The question holds none of the answers the
    knowledge base gives about that subject, and names no relation it states for it (then the
    answer would be in it, whatever the wording). A subject named only as an answer (Hester
    Dunmoyle, founder of the Skellwyn Kelp Company) has no facts of its own to check against;
    questions from that side were read against the facts by hand."""
    names = kb_names(kb, lang)
    for row in questions(kb, lang):
        if row["kind"] != "missing_relation":
            continue
        question = row["question"]
        assert name(row["subject"]) in names, row
        for fact in facts_about(kb, lang, row["subject"]):
            assert not gives_away(question, [fact.answer, *fact.aliases], [fact.subject, *fact.subject_aliases]), \
                (question, fact.relation, fact.answer)
            if question not in EARLIER_HOLDER:
                assert not asks_relation(question, fact.relation, lang), (question, fact.relation)


@pytest.mark.parametrize("kb,lang", SETS)
def test_a_made_up_subject_is_named_in_its_question_and_nowhere_in_the_knowledge_base(kb, lang):
    names = kb_names(kb, lang)
    prose = fold((DATA / kb / f"prose_{lang}.md").read_text(encoding="utf-8"))
    for row in questions(kb, lang):
        if row["kind"] != "made_up_subject":
            continue
        subject = name(row["subject"])
        assert subject in fold(row["question"]), row
        assert subject not in names and subject not in prose, row


def test_the_relation_check_would_catch_a_question_the_knowledge_base_answers():
    assert asks_relation("Who founded Orrenmouth?", "founder", "en")
    assert asks_relation("Who designed the Drummick Point Lighthouse?", "designer", "en")
    assert not asks_relation("How many boats does the Skellwyn Kelp Company own?", "number of employees", "en")
    assert asks_relation("奥伦口的人口是多少？", "人口", "zh")
    assert gives_away("Is the mayor of Orrenmouth Ilse Varnham?", ["Ilse Varnham", "Varnham"], ["Orrenmouth"])
    assert not gives_away("How many rockets will be launched from Wenchang in 2040?", ["Wenchang"],
                          ["the Wenchang Space Launch Site"])
    skellwyn = facts_about("fictional", "en", "Skellwyn")
    assert {f.relation for f in skellwyn} >= {"founder", "chief executive"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_hainan_set_is_chosen_for_hainan_whatever_its_made_up_subjects(lang):
    """Made-up subjects are in no knowledge base: they must not count against choosing the set."""
    hainan = {f.subject.lower() for f in facts("hainan", lang)}
    fictional = {f.subject.lower() for f in facts("fictional", lang)}
    assert default_unanswerable(lang, hainan) == DATA / "hainan" / f"unanswerable_{lang}.jsonl"
    assert default_unanswerable(lang, fictional) is None
