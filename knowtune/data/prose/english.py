"""Just enough English morphology to turn statements into questions: verb base forms,
the nouns of common event verbs, number words, articles."""

from __future__ import annotations

import re

IRREGULAR_PAST = {
    "became": "become", "began": "begin", "took": "take", "made": "make", "came": "come", "won": "win",
    "held": "hold", "led": "lead", "rose": "rise", "fell": "fall", "grew": "grow", "gave": "give",
    "went": "go", "saw": "see", "wrote": "write", "built": "build", "brought": "bring", "bought": "buy",
    "fought": "fight", "taught": "teach", "found": "find", "left": "leave", "lost": "lose", "met": "meet",
    "ran": "run", "sold": "sell", "sent": "send", "spent": "spend", "stood": "stand", "told": "tell",
    "thought": "think", "drew": "draw", "drove": "drive", "flew": "fly", "rode": "ride", "spoke": "speak",
    "swam": "swim", "threw": "throw", "wore": "wear", "chose": "choose", "got": "get", "had": "have",
    "did": "do", "sang": "sing", "struck": "strike", "lay": "lie", "hung": "hang", "fed": "feed",
    "fled": "flee", "dug": "dig", "sat": "sit", "sank": "sink", "kept": "keep", "felt": "feel",
    "meant": "mean", "heard": "hear", "paid": "pay", "said": "say", "laid": "lay", "shot": "shoot",
    "set": "set", "put": "put", "hit": "hit", "split": "split", "spread": "spread", "cost": "cost",
}
PARTICIPLES = {"born", "built", "made", "held", "known", "sung", "written", "given", "taken", "seen", "led",
               "won", "set", "put", "brought", "bought", "taught", "found", "kept", "left", "lost", "paid",
               "sold", "sent", "spent", "told", "begun", "done", "drawn", "grown", "shown", "spoken", "chosen",
               "hung", "struck", "shot", "spread", "fed", "laid", "run", "worn", "thrown", "hidden", "eaten",
               "fought", "understood", "said", "heard", "meant", "read", "split", "cut", "hit"}
PRESENT_VERBS = {"falls", "lies", "comes", "belongs", "means", "flows", "runs", "hosts", "produces", "covers",
                 "contains", "borders", "reaches", "enters", "stands", "sits", "holds", "includes", "houses",
                 "serves", "connects", "links", "leads", "lives", "grows", "originates", "hails", "rises",
                 "empties", "drains", "joins", "crosses", "spans", "attracts", "hosts", "has"}
EVENT_NOUNS = {
    "founded": "founding", "established": "establishment", "opened": "opening", "completed": "completion",
    "consecrated": "consecration", "adopted": "adoption", "announced": "announcement", "released": "release",
    "built": "construction", "constructed": "construction", "born": "birth", "launched": "launch",
    "inscribed": "inscription", "recognised": "recognition", "recognized": "recognition", "listed": "listing",
    "exiled": "exile", "renamed": "renaming", "elected": "election", "published": "publication",
    "discovered": "discovery", "created": "creation", "invented": "invention", "signed": "signing",
    "died": "death", "married": "marriage", "closed": "closure", "abolished": "abolition",
    "designated": "designation", "introduced": "introduction", "formed": "formation", "merged": "merger",
    "began": "start", "started": "start", "ended": "end", "buried": "burial", "crowned": "coronation",
    "occupied": "occupation", "unveiled": "unveiling", "dedicated": "dedication", "finished": "completion",
}
PLACE_NOUNS = {"born": "birthplace", "buried": "burial place"}
MEASURE_NOUNS = {"high": "height", "tall": "height", "long": "length", "wide": "width", "deep": "depth",
                 "old": "age", "heavy": "weight", "large": "size", "thick": "thickness", "big": "size"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                "nineteen", "twenty"]
ADVERBS = {"first", "also", "later", "officially", "formally", "originally", "only", "once", "still",
           "now", "then", "finally", "eventually", "mainly", "mostly", "largely", "jointly", "partly",
           "critically", "widely", "traditionally", "usually", "often"}
DETERMINERS = ("the ", "a ", "an ", "its ", "their ", "his ", "her ")


def past_to_base(word: str) -> str | None:
    """'opened' -> 'open', 'received' -> 'receive', 'became' -> 'become'; None when unsure."""
    if word in IRREGULAR_PAST:
        return IRREGULAR_PAST[word]
    if word in ("created", "treated", "defeated", "seated"):
        return word[:-1] if word == "created" else word[:-2]
    if not word.endswith("ed") or len(word) < 5:
        return None
    if word.endswith("ied"):
        return word[:-3] + "y"
    stem = word[:-2]
    if stem[-1] == stem[-2] and stem[-1] in "bdgmnprt":
        return stem[:-1]  # stopped, occurred
    if stem[-1] in "vcguz" and not stem.endswith("ng"):
        return stem + "e"  # received, announced, changed, continued
    if stem[-1] == "s" and stem[-2] in "aeiou":
        return stem + "e"  # released, raised
    if re.search(r"[^aeiou](?:[aou][tmkpl]|i[mkl]|et|at)$", stem):
        return stem + "e"  # noted, named, located, completed, exiled
    if re.search(r"[^aeiou]ir$|[^aeiou]ur$", stem):
        return stem + "e"  # acquired, cured
    return stem


def present_to_base(word: str) -> str | None:
    if word == "has":
        return "have"
    if word in ("lies", "dies", "ties"):
        return word[:-1]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if re.search(r"(ch|sh|x|ss|z)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return None


def is_past(word: str) -> bool:
    return word in IRREGULAR_PAST or (word.endswith("ed") and len(word) > 4 and word.isalpha())


def is_participle(word: str) -> bool:
    return word in PARTICIPLES or (word.endswith("ed") and len(word) > 4 and word.isalpha())


def strip_determiner(text: str) -> str:
    lowered = text.lower()
    for det in DETERMINERS:
        if lowered.startswith(det) and len(text) > len(det):
            return text[len(det):]
    return text


def mid_sentence(subject: str) -> str:
    """'The Battle of X' -> 'the Battle of X' inside a question; proper names keep their capital."""
    first = subject.split(" ", 1)[0]
    if first in ("The", "A", "An", "This", "These", "Those", "Its", "Their", "Our", "Some", "Each"):
        return first.lower() + subject[len(first):]
    return subject


def number_aliases(number: str) -> list[str]:
    """'four' <-> '4' so that either form of a count is accepted."""
    low = number.lower()
    if low in NUMBER_WORDS:
        return [str(NUMBER_WORDS.index(low))]
    digits = number.replace(",", "")
    if digits.isdigit() and int(digits) < len(NUMBER_WORDS):
        return [NUMBER_WORDS[int(digits)]]
    return []
