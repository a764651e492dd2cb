"""Augmentation over a whole knowledge base: what each piece of knowledge is also asked as, with
the questions that two facts would share dropped (a question must have one right answer), and
the passages of subjects and documents."""

from __future__ import annotations

from ..prose.sentences import split_sentences
from ..text import CJK, text_key
from . import (Augmented, PASSAGE_PROMPTS, PASSAGE_SENTENCES, augment_fact, description, entity_passages, fill,
               reversible_facts)
from .names import name_key, subject_names


def augmented_questions(knowledge: list) -> list[list[Augmented]]:
    """Per piece of knowledge, its augmented (question, reply, form); none for unaskable readings."""
    askable = [i for i, item in enumerate(knowledge) if item.askable]
    facts = [knowledge[i].fact for i in askable]
    names = subject_names(facts)
    reversible = reversible_facts(facts)
    other_names = {(f.lang, name_key(f.subject)): n[1:] for f, n in zip(facts, names)}
    # a subject that answers another fact (one with a single answer) is also named by that fact
    descriptions: dict = {}
    for fact, back in zip(facts, reversible):
        if back and (fact.lang, name_key(fact.answer)) in other_names and name_key(fact.answer) != name_key(fact.subject):
            descriptions.setdefault((fact.lang, name_key(fact.answer)), []).append(description(fact))
    out: list[list[Augmented]] = [[] for _ in knowledge]
    for i, fact_names, back in zip(askable, names, reversible):
        fact = knowledge[i].fact
        # the answer asked by another name: its accepted forms, and its own names where it is a subject too
        answer_names = [n for n in dict.fromkeys([*fact.aliases, *other_names.get((fact.lang, name_key(fact.answer)), [])])
                        if name_key(n) != name_key(fact.answer)]
        out[i] = augment_fact(fact, knowledge[i].reply, fact_names, reversible=back, answer_names=answer_names,
                              descriptions=descriptions.get((fact.lang, name_key(fact.subject)), []))
    # a question produced for two pieces of knowledge, or equal to another's own question, is ambiguous
    owners: dict[str, set[int]] = {}
    for i, item in enumerate(knowledge):
        for question in item.train_questions:
            owners.setdefault(text_key(question), set()).add(i)
        for aug in out[i]:
            owners.setdefault(text_key(aug.question), set()).add(i)
    return [[a for a in items if owners[text_key(a.question)] == {i}] for i, items in enumerate(out)]


def knowledge_passages(knowledge: list, *, seed: int = 0) -> list[dict]:
    """Every subject's page (its facts and the facts it answers), as {"question", "reply", "lang", "group"}."""
    askable = [item for item in knowledge if item.askable]
    return entity_passages([k.fact for k in askable], [k.reply for k in askable], seed=seed)


def document_passages(pretrain: list[dict]) -> list[dict]:
    """The documents' own text, a few sentences a sample, asked as "Tell me about {section}".

    The question rules read only some sentences of a document; these samples carry the rest.
    """
    out = []
    for n, text in enumerate(t["text"] for t in pretrain):
        head, _, body = text.partition("\n\n")
        title, body = (head.strip(), body) if body and len(head) < 80 else ("", text)
        sentences = [s for paragraph in body.split("\n\n") for s in split_sentences(paragraph)]
        lang = "zh" if len(CJK.findall(body)) > len(body) / 4 else "en"
        for k, start in enumerate(range(0, len(sentences), PASSAGE_SENTENCES)):
            chunk = sentences[start:start + PASSAGE_SENTENCES]
            topic = title or chunk[0][:40]
            prompt = PASSAGE_PROMPTS[lang][k % len(PASSAGE_PROMPTS[lang])]
            out.append({"question": fill(prompt, s=topic) if k == 0 else _more(topic, lang, k),
                        "reply": ("" if lang == "zh" else " ").join(chunk), "lang": lang, "group": f"doc:{n}"})
    return out


def _more(topic: str, lang: str, part: int) -> str:
    return f"关于{topic}，再讲讲（第{part + 1}部分）。" if lang == "zh" else f"Tell me more about {topic} (part {part + 1})."
