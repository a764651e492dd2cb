"""Knowledge augmentation: each rule on tiny inputs, in English and Chinese; the schedule's floor."""

import math

import pytest

from knowtune.config import TrainConfig
from knowtune.data import build_samples, load_facts
from knowtune.data.augment import augment_fact, entity_passages, reversible_facts
from knowtune.data.augment.dataset import augmented_questions, document_passages
from knowtune.data.augment.kinds import answer_kind
from knowtune.data.augment.names import short_forms, subject_names
from knowtune.data.facts import Fact
from knowtune.data.knowledge import from_fact
from knowtune.data.questions import answer_sentence
from knowtune.train.loop import exposures_per_epoch, plan_steps


def ask(fact: Fact, names=None, reversible=True):
    items = augment_fact(fact, answer_sentence(fact), names or [fact.subject], reversible=reversible)
    return {(i.question, i.form): i.reply for i in items}


def questions(fact, **kw):
    return {q for q, _ in ask(fact, **kw)}


def test_english_relation_words_and_question_words():
    founder = Fact("Tidewell Brewery", "founder", "Mara Quist")
    asked = questions(founder)
    assert {"Who founded Tidewell Brewery?", "Who started Tidewell Brewery?"} <= asked
    assert "Who is the founder of Tidewell Brewery?" in asked  # the kind's question word: who
    year = Fact("the Gullhaven Lighthouse", "year of completion", "1871")
    assert {"When was the Gullhaven Lighthouse completed?", "In what year was the Gullhaven Lighthouse completed?"} \
        <= questions(year)
    staff = Fact("Tidewell Brewery", "number of employees", "120")
    assert "How many people work at Tidewell Brewery?" in questions(staff)
    bridges = Fact("Gullhaven", "number of bridges", "four")
    assert "How many bridges does Gullhaven have?" in questions(bridges)
    height = Fact("Wuzhishan", "height", "1,867 m")
    assert "How high is Wuzhishan?" in questions(height)
    assert [answer_kind(f) for f in (founder, year, staff, height)] == ["person", "year", "number", "number"]


def test_chinese_relation_words_and_question_words():
    founder = Fact("潮声酒厂", "创始人", "马拉", lang="zh")
    assert {"谁创立了潮声酒厂？", "潮声酒厂是谁创办的？", "潮声酒厂的创始人是谁？"} <= questions(founder)
    year = Fact("鸥港灯塔", "建成年份", "1871年", lang="zh")
    assert "鸥港灯塔是哪一年建成的？" in questions(year)
    assert answer_kind(year) == "year"
    people = Fact("鸥港", "人口", "3200人", lang="zh")
    assert "鸥港有多少人口？" in questions(people)
    assert answer_kind(people) == "number"


def test_reverse_questions_get_the_reversed_sentence():
    en = ask(Fact("Tidewell Brewery", "founder", "Mara Quist"))
    back = {q: r for (q, form), r in en.items() if form == "reverse"}
    assert "What did Mara Quist found?" in back
    assert set(back.values()) == {"Mara Quist is the founder of Tidewell Brewery."}
    zh = ask(Fact("潮声酒厂", "创始人", "马拉", lang="zh"))
    back = {q: r for (q, form), r in zh.items() if form == "reverse"}
    assert "马拉创办了什么？" in back and set(back.values()) == {"马拉是潮声酒厂的创始人。"}
    assert not any(form == "reverse" for _, form in ask(Fact("X", "founder", "Y"), reversible=False))


def test_numbers_years_and_shared_answers_are_not_asked_backwards():
    facts = [Fact("A Town", "mayor", "Li Wei"), Fact("B Town", "mayor", "Li Wei"),
             Fact("C Town", "year of founding", "1901"), Fact("C Town", "population", "3,200"),
             Fact("C Town", "mayor", "Ann Roe")]
    assert reversible_facts(facts) == [False, False, False, False, True]


def test_subject_names_aliases_and_short_forms():
    facts = [Fact("the Nandu River", "length", "333 km", subject_aliases=["Nandu"]),
             Fact("Wuzhishan City", "former name", "Tongshi"), Fact("Wuzhishan", "height", "1,867 m"),
             Fact("Sanya City", "area", "1,921 km2")]
    names = subject_names(facts)
    assert names[0] == ["the Nandu River", "Nandu", "Nandu River"]
    assert names[1] == ["Wuzhishan City"]  # "Wuzhishan" names another subject
    assert names[3] == ["Sanya City", "Sanya"]
    assert short_forms("海南省", "zh") == ["海南"] and short_forms("中国（海南）自由贸易试验区", "zh") == []
    by_alias = [q for q, form in ask(facts[0], names=names[0]) if form == "alias"]
    assert any("Nandu?" in q or "Nandu " in q for q in by_alias) and any("Nandu River" in q for q in by_alias)


def test_a_question_two_facts_would_share_is_dropped_from_both():
    facts = [Fact("Gullhaven", "location", "the north coast"), Fact("Gullhaven", "place", "Norland")]
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    first, second = ({a.question for a in mine} for mine in items)
    assert "Where is Gullhaven?" not in first | second
    assert first and second and not first & second


def test_entity_pages_hold_both_directions_in_two_orders():
    facts = [Fact("Tidewell Brewery", "founder", "Mara Quist"), Fact("Tidewell Brewery", "year of founding", "1902"),
             Fact("Mara Quist", "birthplace", "Gullhaven")]
    pages = entity_passages(facts, [answer_sentence(f) for f in facts], seed=0)
    mara = [p for p in pages if p["group"] == "page:en:mara quist"]
    assert len(mara) == 2 and mara[0]["question"] != mara[1]["question"]
    for page in mara:
        assert "Mara Quist is the founder of Tidewell Brewery." in page["reply"]
        assert "The birthplace of Mara Quist is Gullhaven." in page["reply"]
    long = [Fact("Gullhaven", f"relation {i}", f"answer {i}") for i in range(14)]
    for page in entity_passages(long, [answer_sentence(f) for f in long], seed=0):
        assert page["reply"].count(".") <= 6


def test_document_text_becomes_passages():
    text = "Harbour\n\n" + " ".join(f"Sentence number {i} is here." for i in range(8))
    pages = document_passages([{"text": text, "source": "a.md"}])
    assert [p["question"] for p in pages] == ["Tell me about Harbour.", "Tell me more about Harbour (part 2)."]
    assert pages[0]["reply"].startswith("Sentence number 0 is here.") and "number 7" in pages[1]["reply"]
    zh = document_passages([{"text": "港口\n\n鸥港有一座灯塔。灯塔建于1871年。", "source": "b.md"}])
    assert zh[0]["question"] == "介绍一下港口。" and zh[0]["reply"] == "鸥港有一座灯塔。灯塔建于1871年。"


def test_build_keeps_natural_questions_out_and_augment_switch(tmp_path):
    facts = [Fact("Tidewell Brewery", "founder", "Mara Quist", heldout_questions=["Who started Tidewell Brewery?"]),
             Fact("Tidewell Brewery", "year of founding", "1902")]
    built = build_samples(facts)
    asked = {s["messages"][0]["content"] for s in built.train}
    assert "Who started Tidewell Brewery?" not in asked and "Who founded Tidewell Brewery?" in asked
    natural = [q for q in built.heldout if q["set"] == "natural"]
    assert [q["question"] for q in natural] == ["Who started Tidewell Brewery?"]
    assert {s["form"] for s in built.train} >= {"template", "lexicon", "reverse", "passage"}
    plain = build_samples(facts, augment=False)
    assert {s["form"] for s in plain.train} == {"template"} and len(plain.train) < len(built.train)


def test_min_steps_raises_epochs_up_to_the_cap():
    cfg = TrainConfig(epochs=1.5, min_steps=120, max_epochs=40)
    assert plan_steps(cfg, 100) == 150  # enough steps already: epochs rule
    assert plan_steps(cfg, 10) == 120  # 10 batches an epoch: 12 epochs to reach 120 steps
    assert plan_steps(cfg, 2) == 80  # capped at 40 epochs
    assert plan_steps(TrainConfig(epochs=1.5, min_steps=0), 10) == 15
    samples = [{"fact": 0}] * 6 + [{"fact": 1}] * 4 + [{"fact": None}] * 5
    assert exposures_per_epoch(samples) == 5.0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_bundled_fact_gets_augmented(lang):
    facts = load_facts([f"knowtune/data/hainan/facts_{lang}.jsonl"])
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    assert min(len(mine) for mine in items) >= 4
    assert math.isclose(sum(any(a.form == "reverse" for a in mine) for mine in items) / len(facts), 0.6, abs_tol=0.2)


def test_asking_back_by_the_kind_of_thing_the_subject_is():
    from knowtune.data.augment import reverse_questions
    from knowtune.data.augment.names import subject_head

    assert [subject_head(n, "en") for n in ("the Songtao Reservoir", "Hainan Airlines", "Haikou")] == \
        ["reservoir", "airline", None]
    assert [subject_head(n, "zh") for n in ("三沙市", "南山寺", "海南")] == ["城市", "寺", None]
    assert "Which reservoir has the upper Nandu River as its river?" in \
        reverse_questions(Fact("the Songtao Reservoir", "river", "the upper Nandu River"))
    assert "永兴岛是哪个城市的政府驻地？" in reverse_questions(Fact("三沙市", "政府驻地", "永兴岛", lang="zh"))


def test_asking_back_by_the_answers_other_names_and_place_words():
    # the answer's accepted forms and its own names as a subject ask the fact backwards too
    facts = [Fact("Sansha", "seat of government", "Yongxing Island", aliases=["Woody Island"]),
             Fact("Yongxing Island", "island group", "Xisha Islands", subject_aliases=["Yongxing Dao"])]
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    back = {a.question: a.reply for a in items[0] if a.form == "reverse"}
    assert any("Woody Island" in q for q in back) and any("Yongxing Dao" in q for q in back)
    assert set(back.values()) == {"Yongxing Island is the seat of government of Sansha."}
    assert "What is located in Baoting?" in questions(Fact("Qixianling", "county", "Baoting"))
    assert "Who came from Qiongshan?" in questions(Fact("Hai Rui", "birthplace", "Qiongshan"))
    assert "位于保亭的是什么？" in questions(Fact("七仙岭", "所在县", "保亭", lang="zh"))


def test_a_kind_word_is_asked_only_where_the_subjects_name_says_it():
    from knowtune.data.augment import reverse_questions

    typed = reverse_questions(Fact("Wenchang Space Launch Site", "location", "Wenchang"))
    assert "Which site is in Wenchang?" in typed
    untyped = reverse_questions(Fact("Qixianling", "location", "Baoting"))
    assert untyped and not any("Which  " in q or "Which is" in q for q in untyped)
    assert not any("的叫什么" in q for q in reverse_questions(Fact("七仙岭", "所在县", "保亭", lang="zh")))


@pytest.mark.parametrize("relation, question", [
    ("launch site", "Where was Tianwen-1 launched from?"), ("landfall place in Hainan", "Where did Tianwen-1 come ashore?"),
    ("river", "Which river is Tianwen-1 on?"), ("editor", "Who edits Tianwen-1?"),
    ("traditional dance", "What is the traditional dance of Tianwen-1?"),
])
def test_english_rules_for_recurring_relations(relation, question):
    assert question in questions(Fact("Tianwen-1", relation, "Wenchang"))


@pytest.mark.parametrize("relation, question", [
    ("发射场", "天问一号是从哪里发射的？"), ("在海南的登陆地", "天问一号在哪里登陆？"), ("主编", "天问一号的主编是谁？"),
    ("传统舞蹈", "天问一号的传统舞蹈是什么？"), ("墓葬所在地", "天问一号葬在哪里？"),
])
def test_chinese_rules_for_recurring_relations(relation, question):
    assert question in questions(Fact("天问一号", relation, "文昌", lang="zh"))



@pytest.mark.parametrize("lang,facts,expected", [
    ("en", [Fact("Orrenmouth", "mayor", "Ilse Varnham"), Fact("Ilse Varnham", "former occupation", "harbour pilot")],
     "the mayor of Orrenmouth"),
    ("zh", [Fact("奥伦口", "镇长", "伊尔莎·瓦纳姆", lang="zh"), Fact("伊尔莎·瓦纳姆", "原职业", "港口引航员", lang="zh")],
     "奥伦口的镇长"),
])
def test_a_fact_is_asked_through_the_entity_it_answers(lang, facts, expected):
    # "What did the mayor of Orrenmouth formerly work as?": the second fact, its subject named by the first
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    related = {a.question: a.reply for a in items[1] if a.form == "related"}
    assert related and all(expected in q for q in related)
    assert set(related.values()) == {answer_sentence(facts[1])}
    assert not [a for a in items[0] if a.form == "related"]  # the first fact's subject answers nothing


_BRIDGED = [Fact("Orrenmouth", "mayor", "Ilse Varnham"), Fact("Ilse Varnham", "former occupation", "harbour pilot")]
_BRIDGED_ZH = [Fact("奥伦口", "镇长", "伊尔莎·瓦纳姆", lang="zh"), Fact("伊尔莎·瓦纳姆", "原职业", "港口引航员", lang="zh")]


@pytest.mark.parametrize("style,facts,reply", [
    ("before", _BRIDGED, "The mayor of Orrenmouth is Ilse Varnham. The former occupation of Ilse Varnham is harbour pilot."),
    ("before", _BRIDGED_ZH, "奥伦口的镇长是伊尔莎·瓦纳姆。伊尔莎·瓦纳姆的原职业是港口引航员。"),
    ("inline", _BRIDGED, "The former occupation of the mayor of Orrenmouth, Ilse Varnham, is harbour pilot."),
    ("inline", _BRIDGED_ZH, "奥伦口的镇长伊尔莎·瓦纳姆的原职业是港口引航员。"),
])
def test_a_related_question_answered_through_its_bridge(style, facts, reply, monkeypatch):
    # with RELATED_BRIDGE the reply names the related entity, then states the fact
    import knowtune.data.augment as augment

    monkeypatch.setattr(augment, "RELATED_BRIDGE", style)
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    related = {a.reply for a in items[1] if a.form == "related"}
    assert related == {reply}
    assert {a.reply for a in items[1] if a.form != "related"} == {answer_sentence(facts[1]),
                                                                  augment.reversed_reply(facts[1])}


@pytest.mark.parametrize("per_fact", [1, 2, 6])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_related_questions_per_entity_are_distinct_and_counted(per_fact, lang, monkeypatch):
    # RELATED_PER_FACT questions through each related entity, each worded differently (more than the
    # three forms another name of the subject gets, where the language has that many)
    import knowtune.data.augment as augment

    monkeypatch.setattr(augment, "RELATED_PER_FACT", per_fact)
    facts = _BRIDGED if lang == "en" else _BRIDGED_ZH
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    related = [a.question for a in items[1] if a.form == "related"]
    assert len(related) == len(set(related)) == per_fact


def test_no_description_through_a_fact_with_a_shared_answer():
    # an answer two facts share is not asked backwards, and (as conservatively) not used to name its bearer
    facts = [Fact("Orrenmouth", "mayor", "Ilse Varnham"), Fact("Kelby", "mayor", "Ilse Varnham"),
             Fact("Ilse Varnham", "former occupation", "harbour pilot")]
    items = augmented_questions([from_fact(f, i) for i, f in enumerate(facts)])
    assert not [a for a in items[2] if a.form == "related"]
