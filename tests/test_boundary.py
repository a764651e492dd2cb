"""Knowledge-boundary samples: refusals of what the facts do not hold, never of what they answer."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from knowtune.config import KnowtuneError
from knowtune.data import Fact, build_samples, load_facts
from knowtune.data.augment.boundary import (BOUNDARY_SHARE, MADE_UP, MISSING, OUTSIDE, REFUSALS, KnownNames,
                                            check_share)
from knowtune.data.augment.outside import OUTSIDE_RELATIONS
from knowtune.data.augment.names import name_key
from knowtune.data.build import build_dataset
from knowtune.data.knowledge import from_fact
from knowtune.eval.refusal import DECLINES, classify_reply
from tiny import knowtune

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"

EN = [
    Fact("Wenchang", "population", "560,000", category="places"),
    Fact("Wenchang", "nickname", "Coconut Town", category="places"),
    Fact("Sanya", "population", "1,030,000", category="places"),
    Fact("Sanya", "mayor", "Liu Yun", category="places"),
    Fact("Sanya", "area", "1,919 km²", category="places"),
    Fact("the Wenchang Launch Site", "city", "Wenchang", category="places"),
    Fact("the Songtao Reservoir", "area", "144 km²", category="geography"),
    Fact("the Nandu River", "length", "333 km", category="geography"),
    Fact("the Nandu River", "mouth", "Haikou", category="geography"),
    # "Hainan" is another name of Hainan Province: its capital is known under either name
    Fact("Hainan Province", "capital", "Haikou", subject_aliases=["Hainan"], category="places"),
    Fact("Hainan", "nickname", "Coconut Island", category="places"),
]
ZH = [
    Fact("文昌", "人口", "56万", lang="zh", category="places"),
    Fact("文昌", "别称", "椰乡", lang="zh", category="places"),
    Fact("三亚", "人口", "103万", lang="zh", category="places"),
    Fact("三亚", "市长", "刘云", lang="zh", category="places"),
    Fact("三亚", "面积", "1919平方公里", lang="zh", category="places"),
    Fact("文昌航天发射场", "所在城市", "文昌", lang="zh", category="places"),
    Fact("松涛水库", "面积", "144平方公里", lang="zh", category="geography"),
    Fact("南渡江", "全长", "333公里", lang="zh", category="geography"),
    Fact("南渡江", "入海口", "海口", lang="zh", category="geography"),
    Fact("海南省", "省会", "海口", subject_aliases=["海南"], lang="zh", category="places"),
    Fact("海南", "别称", "椰岛", lang="zh", category="places"),
]


def bare(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())


def build(facts, share=BOUNDARY_SHARE, seed=0, **kw):
    return build_dataset([from_fact(f, i) for i, f in enumerate(facts)], seed=seed, boundary=share, **kw)


def boundary(built) -> list[dict]:
    return [s for s in built.train if s["form"] == "boundary"]


def answered_pair(facts: list[Fact], subject: str, relation: str) -> bool:
    """Whether a fact answers `relation` of `subject` under any name of the subject (its aliases too)."""
    def names(name):
        return {name_key(n) for f in facts if name_key(f.subject) == name_key(name)
                for n in [f.subject, *f.subject_aliases]} | {name_key(name)}
    mine = names(subject)
    return any(f.relation.lower() == relation.lower() and names(f.subject) & mine for f in facts)


@pytest.mark.parametrize("facts", [EN, ZH, EN + ZH], ids=["en", "zh", "both"])
def test_missing_relations_ask_only_absent_pairs_and_made_up_subjects_are_not_real(facts):
    built = build(facts, share=0.5)
    samples = boundary(built)
    kinds = {s["boundary"] for s in samples}
    assert kinds == {MISSING, MADE_UP, OUTSIDE}, kinds
    real = {name_key(n) for f in facts for n in [f.subject, *f.subject_aliases, f.answer, *f.aliases]}
    for s in samples:
        question = s["messages"][0]["content"]
        assert s["fact"] is None and s["subject"].lower() in question.lower()
        assert s["messages"][1]["content"] == REFUSALS[s["lang"]]
        assert s["lang"] == ("zh" if re.search(r"[\u4e00-\u9fff]", question) else "en")
        if s["boundary"] == MISSING:
            assert name_key(s["subject"]) in real and not answered_pair(facts, s["subject"], s["relation"]), s
        elif s["boundary"] == OUTSIDE:  # a real subject, a relation no fact has
            assert name_key(s["subject"]) in real and s["relation"] not in {f.relation for f in facts}, s
        else:
            assert name_key(s["subject"]) not in real, s
    # the pairs the facts answer through another name are never asked
    asked = {(name_key(s["subject"]), s["relation"]) for s in samples}
    assert not asked & {("hainan", "capital"), ("海南", "省会"), ("hainan province", "nickname")}
    # made-up names are like the real ones: a real name recombined or beside a direction or landform
    made_up = " ".join(s["subject"] for s in samples if s["boundary"] == MADE_UP)
    assert ("Wenchang" in made_up or "Songtao" in made_up) if facts is EN else True
    assert ("文昌" in made_up or "松涛" in made_up) if facts is ZH else True


@pytest.mark.parametrize("facts", [EN, ZH], ids=["en", "zh"])
def test_made_up_names_holding_a_real_name_can_be_left_out(facts, monkeypatch):
    import knowtune.data.augment.boundary as boundary_module

    def made_up_names():
        return {s["subject"] for s in boundary(build(facts, share=0.5)) if s["boundary"] == MADE_UP}

    real = {n for f in facts for n in [f.subject, *f.subject_aliases]}

    def holds_a_real_name(name):
        return any(name_key(r) in name_key(name) for r in real)

    assert any(holds_a_real_name(n) for n in made_up_names())  # "North Wenchang", "北文昌"
    monkeypatch.setattr(boundary_module, "MADE_UP_MAY_HOLD_REAL_NAMES", False)
    names = made_up_names()
    assert names and not any(holds_a_real_name(n) for n in names), names


def test_the_made_up_name_rule():
    known = KnownNames(EN + [Fact("Haikou", "population", "2,900,000"),
                             Fact("the Nandu River Bridge", "length", "1 km")])
    assert known.is_new("North Wenchang") and known.is_new("Wenchang Bay") and known.is_new("the Songtao River")
    assert not known.is_new("Wenchang") and not known.is_new("the wenchang")  # a real subject, however spelt
    assert not known.is_new("Coconut Town") and not known.is_new("Hainan")  # an answer, a subject's other name
    assert not known.is_new("Haikou City")  # shortens to a real name
    assert not known.is_new("Nandu Bridge") and not known.is_new("the Launch Site")  # a shortening of one
    zh = KnownNames(ZH)
    assert zh.is_new("北文昌") and zh.is_new("文昌湾") and zh.is_new("松涛江")
    assert not zh.is_new("文昌") and not zh.is_new("文昌岛")  # a subject; shortens to one
    assert not zh.is_new("椰乡") and not zh.is_new("航天发射场")  # an answer; a shortening of a subject


@pytest.mark.parametrize("facts", [EN, ZH], ids=["en", "zh"])
def test_no_boundary_question_is_answered_anywhere(facts):
    built = build(facts, share=0.5, natural=[{"question": "How many people live in Wenchang?", "answers": ["560,000"],
                                              "lang": "en", "set": "natural", "split": "test"}])
    answered = {bare(m["content"]) for s in built.train if s["form"] != "boundary" for m in s["messages"]
                if m["role"] == "user"} | {bare(q["question"]) for q in built.heldout}
    questions = [bare(s["messages"][0]["content"]) for s in boundary(built)]
    assert questions and not set(questions) & answered
    assert len(set(questions)) == len(questions)


@pytest.mark.parametrize("augment", [True, False])
def test_a_relation_by_another_word_is_not_missing(augment):
    """The subject has a city: "location" is the lexicon's same question (Where is X?), never refused,
    also where that question is not itself trained (no augmentation)."""
    facts = [Fact("Nanshan Temple", "city", "Sanya"), Fact("Boao Forum", "location", "Boao"),
             Fact("Boao Forum", "year of founding", "2001"), Fact("Nanshan Temple", "height", "108 m")]
    built = build(facts, share=0.5, augment=augment)
    asked = {(s["subject"], s["relation"]) for s in boundary(built) if s["boundary"] == MISSING}
    assert ("Nanshan Temple", "year of founding") in asked and ("Boao Forum", "height") in asked
    assert ("Nanshan Temple", "location") not in asked and ("Boao Forum", "city") not in asked


@pytest.mark.parametrize("share", [0.08, 0.2, 0.5])
def test_the_share_is_kept_per_language_and_zero_turns_it_off(share):
    built = build(EN + ZH, share=share)
    for lang in ("en", "zh"):
        facts_asked = sum(isinstance(s["fact"], int) and s["lang"] == lang for s in built.train)
        mine = sum(s["lang"] == lang for s in boundary(built))
        assert abs(mine - share * facts_asked) <= 1, (lang, mine, facts_asked)
    assert built.stats["train_forms"]["boundary"] == len(boundary(built)) > 0
    off = build(EN + ZH, share=0)
    assert not boundary(off) and "boundary" not in off.stats["train_forms"]
    kept = [json.dumps(s, ensure_ascii=False) for s in built.train if s["form"] != "boundary"]
    assert sorted(kept) == sorted(json.dumps(s, ensure_ascii=False) for s in off.train)  # added, nothing else moved


def test_on_by_default_also_without_augmentation():
    assert boundary(build_samples(EN))
    assert {s["form"] for s in build_samples(EN, augment=False).train} == {"template", "boundary"}


def test_deterministic_by_seed_whatever_the_hash_seed():
    script = ("import json, sys; sys.path.insert(0, 'tests'); from test_boundary import EN, ZH, build, boundary; "
              "print(json.dumps([[s['messages'][0]['content'] for s in boundary(build(EN + ZH, 0.3, seed))] "
              "for seed in (0, 1)], ensure_ascii=False))")
    root = Path(__file__).resolve().parent.parent
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                           env={"PYTHONHASHSEED": str(h), "PATH": ""}) for h in (1, 2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second and first[0] != first[1]


def test_every_refusal_declines():
    for lang, reply in REFUSALS.items():
        assert classify_reply(reply) == DECLINES, (lang, reply)
    assert {s["messages"][1]["content"] for s in boundary(build(EN + ZH, share=0.5))} == set(REFUSALS.values())


@pytest.mark.parametrize("bad", [-0.1, 0.51, "abc", "nan", "inf", None, True])
def test_a_bad_share_is_refused_naming_the_option(bad):
    with pytest.raises(KnowtuneError, match="field '--boundary': must be a number from 0 to 0.5"):
        check_share(bad)
    with pytest.raises(KnowtuneError, match="--boundary"):
        build(EN, share=bad)
    assert check_share("0") == 0 and check_share(0.5) == 0.5


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bundled_hainan_boundary_asks_no_answered_pair(lang):
    facts = load_facts([DATA / "hainan" / f"facts_{lang}.jsonl"])
    built = build_samples(facts)
    samples = boundary(built)
    fact_questions = sum(isinstance(s["fact"], int) for s in built.train)
    assert abs(len(samples) - BOUNDARY_SHARE * fact_questions) <= 1
    real = {name_key(n) for f in facts for n in [f.subject, *f.subject_aliases, f.answer, *f.aliases]}
    held = {f.relation for f in facts}
    for s in samples:
        if s["boundary"] == MISSING:
            assert not answered_pair(facts, s["subject"], s["relation"]), s
        elif s["boundary"] == OUTSIDE:
            assert name_key(s["subject"]) in real and s["relation"] not in held, s
        else:
            assert name_key(s["subject"]) not in real, s
    assert {s["boundary"] for s in samples} == {MISSING, MADE_UP, OUTSIDE}


def test_cli_boundary_option(tmp_path):
    facts = tmp_path / "facts.jsonl"
    facts.write_text("\n".join(json.dumps(f.to_dict(), ensure_ascii=False) for f in EN) + "\n", encoding="utf-8")
    for bad in ("-0.1", "0.6", "abc"):
        proc = knowtune("data", "build", facts, "--out", tmp_path / "bad", f"--boundary={bad}")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (f"error: field '--boundary': must be a number from 0 to 0.5 "
                                       f"(refusal samples per fact question), got {bad!r}")
        assert not (tmp_path / "bad").exists()
    proc = knowtune("data", "build", facts, "--out", tmp_path / "data", "--boundary", "0.3")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "data" / "stats.json").read_text(encoding="utf-8"))
    fact_questions = sum(v for k, v in stats["train_forms"].items() if k not in ("boundary", "passage"))
    assert abs(stats["train_forms"]["boundary"] - 0.3 * fact_questions) <= 1


@pytest.mark.parametrize("facts", [EN, ZH], ids=["en", "zh"])
def test_outside_relations_are_a_third_and_asked_in_the_subjects_kind(facts):
    person = Fact("Hai Rui", "birthplace", "Qiongshan", category="history", lang=facts[0].lang)
    samples = boundary(build(facts + [person], share=0.5))
    outside = [s for s in samples if s["boundary"] == OUTSIDE]
    assert abs(len(outside) - len(samples) / 3) <= 1
    lists = OUTSIDE_RELATIONS[facts[0].lang]
    for s in outside:
        kind = "person" if s["subject"] == "Hai Rui" else "other"
        assert s["relation"] in dict(lists[kind]), s  # no blood type of a river, no opening hours of a man


def test_an_outside_relation_the_facts_hold_is_never_asked():
    """Held under its own name, as a word of a held relation or holding one ("motto" <-> "club motto")."""
    facts = EN + [Fact("Sanya", "club motto", "Onward", category="places"),
                  Fact("Sanya", "website", "www.sanya.gov.cn", category="places"),
                  Fact("Wenchang", "annual budget of the county", "¥1 billion", category="places")]
    asked = {s["relation"] for s in boundary(build(facts, share=0.5)) if s["boundary"] == OUTSIDE}
    assert asked and not asked & {"motto", "website", "annual budget"}
    zh = ZH + [Fact("三亚", "官方网站地址", "www.sanya.gov.cn", lang="zh", category="places")]
    asked = {s["relation"] for s in boundary(build(zh, share=0.5)) if s["boundary"] == OUTSIDE}
    assert asked and "官方网站" not in asked
