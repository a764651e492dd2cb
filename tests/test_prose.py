"""Prose -> questions: sentence splitting, English and Chinese rules, synthesis and its held-out split,
the optional LLM question generator (against a fake endpoint on 127.0.0.1)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from knowtune.data.build import build_dataset
from knowtune.data.formats import read_document
from knowtune.data.prose import split_sentences, synthesize
from knowtune.data.prose.english import past_to_base
from knowtune.data.prose.generator import openai_generator, parse_pairs
from knowtune.data.prose.rules_en import read_english
from knowtune.data.prose.rules_zh import read_chinese
from knowtune.data.questions import HELDOUT_TEMPLATES


def test_split_sentences_english_chinese_and_abbreviations():
    assert split_sentences("Dr. Sun was born in 1866. He left! J. Smith came. It is 1.5 km long.") == [
        "Dr. Sun was born in 1866.", "He left!", "J. Smith came.", "It is 1.5 km long."]
    assert split_sentences("海南的省会是海口。他说：“你好。”然后走了！Hainan is big.") == [
        "海南的省会是海口。", "他说：“你好。”", "然后走了！", "Hainan is big."]


def _by_kind(sentence, reader=read_english):
    return {r.kind: r for r in reader(sentence)}


def test_english_rules_ask_the_right_slot():
    founded = _by_kind("Freedonia was founded in 1987 by Rufus Firefly.")
    assert founded["when"].answer == "1987" and "When was Freedonia founded?" in founded["when"].train
    assert founded["when"].relation == "year of founding"
    assert founded["who"].answer == "Rufus Firefly" and "Who founded Freedonia?" in founded["who"].train
    capital = read_english("The capital of Freedonia is Sylvania City.")[0]
    assert (capital.subject, capital.relation, capital.answer) == ("Freedonia", "capital", "Sylvania City")
    high = read_english("Mount Gogol is 1,867 m high.")[0]
    assert high.answer == "1,867 m" and high.relation == "height" and "How high is Mount Gogol?" in high.train
    lies = read_english("Gogol Island lies in the Northern Sea, also called the Cold Sea.")[0]
    assert lies.answer == "Northern Sea" and "Cold Sea" in lies.aliases and "Where does Gogol Island lie?" in lies.train
    opened = read_english("The Gogol airport opened in 1999.")[0]
    assert "When did the Gogol airport open?" in opened.train and opened.relation == "year of opening"
    count = read_english("Freedonia has four provinces: North, South, East and West.")
    assert count[0].answer == "four" and "4" in count[0].aliases
    assert "How many provinces does Freedonia have?" in count[0].train
    assert count[1].answer == "North, South, East and West"
    named = read_english("The river is called the Gogol.")[0]
    assert named.answer == "Gogol" and "What is the river called?" in named.train
    assert read_english("Hello there") == []


def test_past_to_base():
    assert [past_to_base(w) for w in ["opened", "received", "released", "named", "stopped", "became", "studied"]] == [
        "open", "receive", "release", "name", "stop", "become", "study"]


def test_chinese_rules():
    capital = read_chinese("自由国的首府是西尔瓦尼亚城。")[0]
    assert (capital.subject, capital.relation, capital.answer) == ("自由国", "首府", "西尔瓦尼亚城")
    assert "自由国的首府是哪里？" in capital.train
    year = read_chinese("三沙市于2012年设立。")[0]
    assert year.answer == "2012年" and "2012" in year.aliases and "三沙市于哪一年设立？" in year.train
    assert year.relation == "设立年份"
    count = read_chinese("海南省有4个地级市。")[0]
    assert count.answer == "4个" and "海南省有多少个地级市？" in count.train
    where = read_chinese("亚龙湾位于三亚。")[0]
    assert where.answer == "三亚" and "亚龙湾位于哪里？" in where.train


def _doc(tmp_path, text, name="kb.md"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_document(path)


PROSE = """# Freedonia

## Geography

The capital of Freedonia is Sylvania City. Mount Gogol is 2,345 m high. Freedonia lies in the Northern Sea.

## History

Freedonia was founded in 1933 by Rufus Firefly. The Gogol airport opened in 1999. Nobody knows why.

## 中文

自由国的首府是西尔瓦尼亚城。
"""


def test_synthesis_splits_by_sentence_fact_and_keeps_heldout_forms_out(tmp_path):
    prose = synthesize([_doc(tmp_path, PROSE)])
    built = build_dataset(prose.knowledge, pretrain=prose.pretrain)
    assert prose.sentences == 7 and prose.sentences_without_questions == 1
    assert len(prose.pretrain) == 3 and prose.pretrain[0]["text"].startswith("Geography\n\nThe capital")
    trained = {}
    for sample in built.train:
        trained.setdefault(sample["fact"], []).append(sample["messages"][0]["content"])
    all_questions = {q.lower() for qs in trained.values() for q in qs}
    for held in built.heldout:
        item = prose.knowledge[held["fact"]]
        assert len(trained[held["fact"]]) >= 5
        assert held["question"].lower() not in all_questions
        assert item.reply in PROSE.replace("\n", " ")  # the answer restates the source sentence
    capital = next(q for q in built.heldout if q["subject"] == "Freedonia" and q["relation"] == "capital")
    assert capital["question"] in [t.format(r="capital", s="Freedonia") for t in HELDOUT_TEMPLATES["en"]]
    assert capital["answers"][0] == "Sylvania City" and capital["category"] == "geography"
    assert {s["lang"] for s in built.train} == {"en", "zh"}


class _FakeLLM(BaseHTTPRequestHandler):
    calls = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, self.headers.get("Authorization"), body))
        sentence = body["messages"][0]["content"].rsplit(": ", 1)[-1]
        if "broken" in sentence:
            self.send_response(500)
            self.end_headers()
            return
        pairs = [{"question": "Which city is the capital of Freedonia?", "answer": "Sylvania City"},
                 {"question": "Invented?", "answer": "Paris"}]  # not in the sentence: dropped
        if "Gogol" in sentence:
            pairs = [{"question": "What does the text say about Gogol?", "answer": "Gogol"},
                     {"question": "Which name is given?", "answer": "Gogol"}]
        reply = {"choices": [{"message": {"role": "assistant", "content": "```json\n" + json.dumps(pairs) + "\n```"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm():
    server = HTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeLLM.calls = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_generator_adds_questions_and_falls_back_when_the_endpoint_fails(tmp_path, fake_llm):
    text = ("# K\n\nThe capital of Freedonia is Sylvania City. Wow, Gogol indeed. "
            "Nobody knows broken things. The capital of Gogolia is Gogol Town.\n")
    generator = openai_generator(fake_llm, "tiny-model", api_key="k")
    prose = synthesize([_doc(tmp_path, text)], generator=generator)
    path, auth, body = _FakeLLM.calls[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k" and body["model"] == "tiny-model"
    assert prose.generator_failures == 1 and prose.generated_questions == 5
    first = prose.knowledge[0]
    assert "Which city is the capital of Freedonia?" in first.train_questions
    assert "Invented?" not in first.train_questions
    generated = next(k for k in prose.knowledge if k.reply == "Wow, Gogol indeed.")  # no rule reads it
    assert generated.train_questions == ["What does the text say about Gogol?"]
    assert generated.heldout_question == "Which name is given?"
    assert all(k.reply != "Nobody knows broken things." for k in prose.knowledge)
    assert prose.sentences_without_questions == 1
    assert any(k.reply.startswith("The capital of Gogolia") for k in prose.knowledge)


def test_generator_stops_asking_a_dead_endpoint(tmp_path):
    generator = openai_generator("http://127.0.0.1:9", "m", timeout=2)  # nothing listens on port 9
    text = "# K\n\n" + " ".join(f"The capital of Land{i} is Town{i}." for i in range(5)) + "\n"
    prose = synthesize([_doc(tmp_path, text)], generator=generator)
    assert prose.generator_failures == 5 and len(prose.knowledge) == 5  # offline questions stand alone


def test_parse_pairs():
    assert parse_pairs('[{"question": "Q?", "answer": "1987"}]', "It was founded in 1987.") == [
        {"question": "Q?", "answer": "1987"}]
    with pytest.raises(ValueError):
        parse_pairs("no json here", "x")
