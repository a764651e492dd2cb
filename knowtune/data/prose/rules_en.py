"""English sentences -> readings, by sentence structure.

Each rule matches one common encyclopedic structure ("The capital of X is Y.", "X was
founded in 1987 by Y.", "X is 1,867 m high.", "X lies in Y.") and says which slot is the
answer and how to ask for it. The first rule that matches wins; a sentence matching none
gives no question (its text still goes to the pre-training set).
"""

from __future__ import annotations

import re

from .english import (EVENT_NOUNS, IRREGULAR_PAST, MEASURE_NOUNS, NUMBER_WORDS, PLACE_NOUNS, PRESENT_VERBS, is_participle,
                      is_past, mid_sentence, number_aliases, past_to_base, present_to_base, strip_determiner)
from .reading import Reading, cap, en_forms

COP = r"(?P<aux>is|are|was|were)"
YEAR = r"(?:\d{1,4} (?:BC|BCE|AD|CE)|\d{4})"
_YEAR_SLOT = re.compile(rf"\b(?:in|since|during) (?P<y>{YEAR})\b|\bon (?P<d>\d{{1,2}} [A-Z][a-z]+ \d{{4}}|[A-Z][a-z]+ \d{{1,2}}, \d{{4}})")
_AGENT_SLOT = re.compile(r"\bby (?P<a>.+?)(?=,| in \d| on | at | from |$)")
_PP = re.compile(r" (?P<p>in|at|from|on|to|under|after|into|for|with|as|near) (?=[^ ])")
_LEADING_CONTEXT = re.compile(rf"^(?:In|Since|From|By|Before|After|Until|During) (?:{YEAR}|the \w+ century),? (?=[A-Za-z])")
_RELATIVE = re.compile(r"\b(?:who|which|that|whose|where)\b")
_GROUP_NOUNS = {"province", "group", "county", "city", "country", "family", "genus", "islands", "island",
                "dynasty", "region", "district", "prefecture", "town", "state", "team", "company", "archipelago",
                "range", "river", "system", "language", "branch", "order", "class", "kingdom", "empire"}


def read_english(sentence: str) -> list[Reading]:
    text = _LEADING_CONTEXT.sub("", sentence.strip().rstrip(".!;").strip())
    text = cap(re.sub(r"\s+", " ", text))
    for rule in RULES:
        readings = rule(text)
        if readings:
            return readings
    return []


def split_answer(raw: str) -> tuple[str, list[str]]:
    """'Wuzhishan, also called Five Finger Mountain' -> ('Wuzhishan', ['Five Finger Mountain'])."""
    aliases = []
    text = re.sub(r", (?:which|who|where|whose|one of|after|making) .*$", "", raw.strip())
    match = re.match(r"^(.+?), (?:also called|also known as|known as|or|today|now|formerly) (.+)$", text)
    if match:
        text = match.group(1)
        aliases.append(strip_determiner(match.group(2)))
    match = re.match(r"^(.+?) \(([^)]+)\)$", text)
    if match:
        text = match.group(1)
        aliases.append(match.group(2))
    text = re.sub(r", .*$", "", text)
    core = re.sub(r"^(?:about|around|approximately|nearly|almost|some|over|roughly) ", "", strip_determiner(text))
    if core != text:
        aliases.append(text)
    aliases += number_aliases(core)
    return core, [a for a in dict.fromkeys(aliases) if a and a != core]


def _subject(raw: str) -> str:
    """Parenthetical comma phrases dropped ('X, known for Y, was ...'), articles lower-cased."""
    return mid_sentence(re.sub(r", [^,]+,", "", raw).strip())


def _reading(subject, answer_raw, forms, relation="", kind="what", extra_aliases=()) -> Reading:
    answer, aliases = split_answer(answer_raw)
    train, heldout = forms
    aliases = [a for a in dict.fromkeys([*aliases, *extra_aliases]) if a != answer]
    return Reading(subject=subject, answer=answer, relation=relation, aliases=aliases,
                   train=train, heldout=heldout, kind=kind)


def _naming(text):
    m = re.match(rf"^(?P<s>.+?) {COP} (?P<also>also )?(?P<v>called|named|nicknamed|known as|termed|dubbed) "
                 rf"(?P<a>(?!after ).+)$", text)
    if not m:
        return None
    s, also = _subject(m["s"]), m["also"] or ""
    relation = "nickname" if m["v"] == "nicknamed" else "other name" if also else "name"
    return [_reading(s, m["a"], en_forms("what", s, m["aux"], f"{also}{m['v']}", echo="what"), relation)]


def _named_after(text):
    m = re.match(rf"^(?P<s>.+?) {COP} named after (?P<a>.+)$", text)
    if not m:
        return None
    s = _subject(m["s"])
    return [_reading(s, m["a"], en_forms("what", s, m["aux"], "named", prep="after", echo="after what"),
                     "namesake")]


def _means(text):
    m = re.match(r"^(?P<s>.+?) (?P<v>means|meant|refers to|stands for) (?P<a>.+)$", text)
    if not m:
        return None
    s, verb = _subject(m["s"]), m["v"]
    first, *more = verb.split(" ")
    base = " ".join([past_to_base(first) or present_to_base(first) or first, *more])
    do = "did" if is_past(first) else "does"
    prep = more[0] if more else ""
    forms = en_forms("what", s, "", first if prep else verb, prep=prep, do=do,
                     base=base.rsplit(" ", 1)[0] if prep else base, echo="what" if not prep else f"{prep} what")
    return [_reading(s, m["a"], forms, "meaning")]


def _measure(text):
    m = re.match(rf"^(?P<s>.+?) {COP} (?P<a>(?:about |around |approximately |nearly |almost |over |some )?"
                 rf"\S*\d\S*(?: [A-Za-z²³%°.]+){{0,2}}) (?P<adj>{'|'.join(MEASURE_NOUNS)})$", text)
    if not m:
        return None
    s, adj = _subject(m["s"]), m["adj"]
    forms = en_forms(f"how {adj}", s, m["aux"], "", echo=f"how {adj}")
    return [_reading(s, m["a"], forms, MEASURE_NOUNS[adj], kind="how")]


def _count(text):
    m = re.match(rf"^(?P<s>.+?) (?P<v>has|have|had|contains|includes|comprises) "
                 rf"(?P<n>\d[\d,]*|{'|'.join(NUMBER_WORDS)}) (?P<x>[^:,]+?)(?:: (?P<list>.+))?$", text)
    if not m:
        return None
    s, verb, x = _subject(m["s"]), m["v"], m["x"]
    base = past_to_base(verb) or present_to_base(verb) or verb
    do = "did" if is_past(verb) else "does" if verb.endswith("s") else "do"
    forms = en_forms(f"how many {x}", s, "", verb, do=do, base=base, echo=f"how many {x}")
    readings = [_reading(s, m["n"], forms, f"number of {x}", kind="how many")]
    if m["list"]:
        forms = en_forms(f"which {x}", s, "", verb, do=do, base=base, echo=f"which {x}",
                         extra=(f"What are the {x} of {s}?", f"Name the {x} of {s}."))
        readings.append(Reading(s, m["list"], train=forms[0], heldout=forms[1], kind="which"))
    return readings


def _part_of(text):
    m = re.match(rf"^(?P<s>.+?) {COP} (?:a |an )?part of (?P<a>.+)$", text)
    if not m:
        return None
    s = _subject(m["s"])
    return [_reading(s, m["a"], en_forms(_which(m["a"]), s, m["aux"], "part", prep="of", echo="part of what"))]


def _location(text):
    m = re.match(rf"^(?P<s>.+?) (?:{COP} (?:(?P<v>located|situated|found|based) )?|(?P<lv>lies|lie|lay|stands|sits) )"
                 rf"(?P<p>in|at|on|near) (?P<a>.+)$", text)
    if (not m or re.fullmatch(YEAR, m["a"]) or not re.match(r"(?:the )?[A-Z0-9]", m["a"])
            or (m["v"] == "based" and m["p"] == "on")):
        return None
    s, prep = _subject(m["s"]), m["p"]
    if m["lv"]:
        lv = m["lv"]
        base = past_to_base(lv) or present_to_base(lv) or lv
        forms = en_forms("where", s, "", lv, do="did" if lv == "lay" else "does", base=base,
                         echo=f"{prep} which place")
    else:
        forms = en_forms("where", s, m["aux"], m["v"] or "", echo=f"{prep} which place")
    return [_reading(s, m["a"], forms, "location", kind="where", extra_aliases=_place_head(m["a"]))]


def _origin(text):
    m = re.match(r"^(?P<s>.+?) (?P<v>comes|come|came|originates|originated|hails) from (?P<a>.+)$", text)
    if not m:
        return None
    s, verb = _subject(m["s"]), m["v"]
    base = past_to_base(verb) or present_to_base(verb) or verb
    do = "did" if is_past(verb) else "does" if verb.endswith("s") else "do"
    forms = en_forms("where", s, "", verb, prep="from", do=do, base=base, echo="from where")
    return [_reading(s, m["a"], forms, "place of origin", kind="where", extra_aliases=_place_head(m["a"]))]


def _belongs(text):
    m = re.match(r"^(?P<s>.+?) (?P<v>belongs|belong|belonged) to (?P<a>.+)$", text)
    if not m:
        return None
    s, verb, wh = _subject(m["s"]), m["v"], _which(m["a"])
    do = "did" if verb == "belonged" else "does" if verb == "belongs" else "do"
    forms = en_forms(wh, s, "", verb, prep="to", do=do, base="belong", echo=f"to {wh}")
    relation = wh.split(" ", 1)[1] if wh.startswith("which ") else ""
    return [_reading(s, m["a"], forms, relation)]


def _has_attribute(text):
    m = re.match(r"^(?P<s>.+?) (?P<v>has|have|had) (?:a|an) (?P<a>.+)$", text)
    if not m or " " not in m["a"] or not m["a"].split()[-1].isalpha():
        return None
    s, verb, head = _subject(m["s"]), m["v"], m["a"].split()[-1]
    do = "did" if verb == "had" else "does" if verb == "has" else "do"
    forms = en_forms(f"what kind of {head}", s, "", verb, do=do, base="have", echo=f"what kind of {head}")
    return [_reading(s, m["a"], forms, head)]


def _not_predicate(answer: str) -> bool:
    first = answer.split(" ", 1)[0]
    second = answer.split(" ", 2)[1] if answer.count(" ") >= 1 else ""
    return not (is_participle(first) or (first.endswith("ly") and is_participle(second)))


def _of(text):
    m = re.match(rf"^(?:The|An?) (?P<r>.+) of (?P<s>.+?) {COP} (?P<a>.+)$", text)
    if not m or re.search(r"\b(?:is|are|was|were)\b", m["r"]) or not _not_predicate(m["a"]):
        return None
    return [_noun_reading(_subject(m["s"]), m["r"], m["a"])]


def _possessive(text):
    m = re.match(rf"^(?P<s>[^'’]+?)['’]s (?P<r>.+?) {COP} (?P<a>.+)$", text)
    if not m or not _not_predicate(m["a"]) or re.search(r" (?:among|of|in|on|at|for|from|with|by|to) ", m["s"]):
        return None
    return [_noun_reading(_subject(m["s"]), m["r"], m["a"])]


def _noun_reading(subject: str, relation: str, answer: str) -> Reading:
    return _reading(subject, answer, ([f"Which is the {relation} of {subject}?"], []), relation)


def _definite(text):
    m = re.match(rf"^(?P<np>The .+?) {COP} (?P<a>.+)$", text)
    if not m or not _not_predicate(m["a"]) or m["a"].split(" ", 1)[0].endswith("ly"):
        return None
    np = mid_sentence(m["np"])
    return [_reading(np, m["a"], ([f"Which is {np}?", f"What is {np}?"], []), "name")]


def _identity(text):
    """'Hainan Island is the second largest island of China.' asks for the subject."""
    m = re.match(rf"^(?P<s>[A-Z][^,]*?) {COP} (?P<a>the .+)$", text)
    if not m or not _not_predicate(m["a"][4:]):
        return None
    described = re.sub(r", .*$", "", m["a"])
    return [_reading(described, m["s"], ([f"Which is {described}?", f"What is {described}?"], []), "name")]


def _slots(text):
    """Passive ('X was founded in 1931 by Y') and active ('X opened in 1999') clauses with a slot."""
    m = re.match(rf"^(?P<s>.+?) {COP} (?P<adv>(?:\w+ly|first|also|later|once|originally|only) )?(?P<v>[a-z]+)"
                 rf"(?P<rest>(?: .+)?)$", text)
    if m and is_participle(m["v"]):
        verb = (m["adv"] or "") + m["v"]
        return _slot_readings(_subject(m["s"]), m["aux"], verb, m["v"], m["rest"], passive=True)
    words = text.split(" ")
    for i in range(1, len(words)):
        word, before = words[i], words[i - 1].lower()
        if before in ("the", "a", "an", "of", "and", "to") or not word.isalpha() or not word.islower():
            continue
        if is_past(word) or word in PRESENT_VERBS:
            j = i
            while j > 1 and words[j - 1].lower() in ("first", "also", "later", "once", "originally", "only",
                                                        "officially", "formally", "finally"):
                j -= 1
            subject = " ".join(words[:j])
            if re.search(r"\b(?:is|are|was|were)\b", subject) or _RELATIVE.search(subject):
                return None  # 'The monk who drifted to X was Y': a description, read by _definite
            verb = " ".join(words[j:i + 1])
            rest = " " + " ".join(words[i + 1:]) if i + 1 < len(words) else ""
            if word == "took" and rest.startswith(" place"):
                verb, rest = verb + " place", rest[len(" place"):]
            return _slot_readings(_subject(subject), "", verb, word, rest, passive=False)
    return None


def _slot_readings(s: str, aux: str, verb: str, head: str, rest: str, *, passive: bool) -> list[Reading]:
    do = "" if passive else ("did" if is_past(head) else "does")
    base = "" if passive else (past_to_base(head) or present_to_base(head) or "")
    base_verb = verb.replace(head, base) if base else ""
    if verb.endswith("took place"):
        base_verb = verb.replace("took place", "take place")
    readings = []
    year = _YEAR_SLOT.search(rest)
    if year:
        without = re.sub(r" +", " ", rest[:year.start()] + rest[year.end():]).rstrip(" ,")
        asked = re.sub(r" +", " ", _AGENT_SLOT.sub("", without)).rstrip(" ,") if passive else without
        pred = verb + asked
        base_pred = base_verb + asked if base_verb else ""
        extra = (f"In which year {aux} {s} {pred}?",) if aux else (
            (f"In which year {do} {s} {base_pred}?",) if base_pred else ())
        forms = en_forms("when", s, aux, pred, do=do, base=base_pred, echo="in which year", extra=extra)
        readings.append(_reading(s, year["y"] or year["d"], forms, _event_relation("year", head, verb, pred),
                                 kind="when"))
        rest = without
    agent = _AGENT_SLOT.search(rest) if passive else None
    if agent:
        pred = verb + rest[:agent.start()].rstrip() + rest[agent.end():]
        active = (f"Who {pred} {s}?",) if pred == head and (head.endswith("ed") or head in IRREGULAR_PAST) else ()
        forms = en_forms("who", s, aux, pred, prep="by", echo="by whom",
                         extra=(f"By whom {aux} {s} {pred}?", *active))
        readings.append(_reading(s, agent["a"], forms, kind="who"))
    pps = list(_PP.finditer(rest)) if not agent else []
    pp = pps[-1] if pps else None
    if pp and not re.fullmatch(YEAR, rest[pp.end():]):
        pred = verb + rest[:pp.start()]
        prep, obj = pp["p"], rest[pp.end():]
        place = prep in ("in", "at", "from") and re.match(r"(?:the )?[A-Z]", obj)
        wh = "where" if place else "what"
        strand = prep if (not place or prep == "from") else ""
        forms = en_forms(wh, s, aux, pred, prep=strand, do=do,
                         base=base_verb + rest[:pp.start()] if base_verb else "",
                         echo=f"{prep} which place" if place else f"{prep} what")
        relation = _event_relation("place", head, verb, pred) if place else ""
        readings.append(_reading(s, obj, forms, relation, kind=wh,
                                 extra_aliases=_place_head(obj) if place else ()))
    return readings


def _event_relation(what: str, head: str, verb: str, pred: str) -> str:
    """'year of establishment', 'year of first inscription by UNESCO', 'birthplace'; '' when unsure."""
    if verb in ("took place", "happened", "occurred"):
        return what
    if head in ("began", "started", "begun") and pred == verb and what == "year":
        return "starting year"
    rest = pred[len(verb):]
    if what == "place":
        return PLACE_NOUNS.get(head, "") if not rest else ""
    noun = EVENT_NOUNS.get(head)
    if noun is None:
        return ""
    first = "first " if verb.startswith("first ") else ""
    return f"{what} of {first}{noun}{rest}"


def _which(obj: str) -> str:
    last = obj.split()[-1].lower() if obj.split() else ""
    return f"which {last}" if last in _GROUP_NOUNS else "what"


def _place_head(place: str) -> list[str]:
    """'Jiaji in Qionghai' and 'Dongshan Ridge in Wanning' also accept their first part."""
    head = re.split(r" in | at |, ", place, maxsplit=1)[0]
    return [strip_determiner(head)] if head != place else []


def _about(text):
    """Last resort for 'X is <adjective phrase>': ask about X, the predicate is the answer."""
    m = re.match(rf"^(?P<s>[A-Z].+?) {COP} (?P<a>.+)$", text)
    if not m:
        return None
    s = _subject(m["s"])
    forms = en_forms("what", s, m["aux"], "", echo="what")
    return [_reading(s, m["a"], forms, kind="about")]


RULES = [_naming, _named_after, _means, _measure, _count, _part_of, _location, _origin, _belongs,
         _has_attribute, _of, _possessive, _slots, _definite, _identity, _about]
